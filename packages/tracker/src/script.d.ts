/** dist/script.js, written by build.ts: the minified t.js as a string, and its content hash. */
declare const script: string;
export default script;
export declare const version: string;
