/** First-party cookies: the visitor for 13 months, the session for 30 minutes of inactivity. */
export const VISITOR_COOKIE = "fa_vid";
export const SESSION_COOKIE = "fa_sid";
export const OPT_OUT_COOKIE = "fa_optout";
export const VISITOR_MAX_AGE = 13 * 30 * 86_400;
export const SESSION_MAX_AGE = 30 * 60;

export function readCookie(name: string): string | undefined {
  for (const part of document.cookie.split("; ")) {
    const eq = part.indexOf("=");
    if (part.slice(0, eq) === name) return decodeURIComponent(part.slice(eq + 1));
  }
  return undefined;
}

export function writeCookie(name: string, value: string, maxAge: number): void {
  const secure = location.protocol === "https:" ? "; Secure" : "";
  // biome-ignore lint/suspicious/noDocumentCookie: the Cookie Store API is not in every browser t.js supports.
  document.cookie = `${name}=${encodeURIComponent(value)}; Max-Age=${maxAge}; Path=/; SameSite=Lax${secure}`;
}

export function forgetCookie(name: string): void {
  writeCookie(name, "", 0);
}
