/**
 * The workspace as pnpm sees it, so that `pnpm install` stays quiet: no workspace package depends
 * on itself through others ("There are cyclic workspace dependencies"), and pnpm checks engines
 * against the Node.js the scripts run on ("Unsupported engine" when the Node running pnpm is older).
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "./support/services";

interface Manifest {
  name: string;
  engines?: { node?: string };
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

const workspaceYaml = readFileSync(join(repoRoot, "pnpm-workspace.yaml"), "utf8");

/** The folders pnpm-workspace.yaml lists (a trailing `/*` taken as every folder in it). */
function workspaceFolders(): string[] {
  const globs = [...workspaceYaml.matchAll(/^\s+-\s+(\S+)\s*$/gm)].map((m) => m[1] ?? "");
  return globs.flatMap((glob) =>
    glob.endsWith("/*")
      ? readdirSync(join(repoRoot, glob.slice(0, -2)), { withFileTypes: true })
          .filter((entry) => entry.isDirectory())
          .map((entry) => join(glob.slice(0, -2), entry.name))
      : [glob],
  );
}

const manifests = workspaceFolders()
  .filter((folder) => existsSync(join(repoRoot, folder, "package.json")))
  .map((folder) => JSON.parse(readFileSync(join(repoRoot, folder, "package.json"), "utf8")) as Manifest);

/** A dependency cycle among workspace packages, as the names along it, or none. */
function findCycle(): string[] | undefined {
  const names = new Set(manifests.map((m) => m.name));
  const edges = new Map(
    manifests.map((m) => [
      m.name,
      Object.keys({
        ...m.dependencies,
        ...m.devDependencies,
        ...m.optionalDependencies,
        ...m.peerDependencies,
      }).filter((dep) => names.has(dep)),
    ]),
  );
  const done = new Set<string>();
  const visit = (name: string, path: string[]): string[] | undefined => {
    if (path.includes(name)) return [...path.slice(path.indexOf(name)), name];
    if (done.has(name)) return undefined;
    for (const dep of edges.get(name) ?? []) {
      const cycle = visit(dep, [...path, name]);
      if (cycle) return cycle;
    }
    done.add(name);
    return undefined;
  };
  for (const name of names) {
    const cycle = visit(name, []);
    if (cycle) return cycle;
  }
  return undefined;
}

describe("the pnpm workspace", () => {
  it("finds every package the folders hold", () => {
    expect(manifests.map((m) => m.name)).toEqual(
      expect.arrayContaining([
        "@funnel/api",
        "@funnel/db",
        "@funnel/edge",
        "@funnel/events",
        "@funnel/fixtures",
      ]),
    );
  });

  it("has no cycle among its packages' dependencies", () => {
    expect(findCycle()).toBeUndefined();
  });

  it("checks engines against the Node.js the project installs, the one that runs this test", () => {
    const nodeVersion = workspaceYaml.match(/^nodeVersion:\s*(\S+)\s*$/m)?.[1];
    // The platform's node-<os>-<cpu> package (root optionalDependencies), linked as .bin/node.
    const installed = execFileSync(join(repoRoot, "node_modules/.bin/node"), ["--version"], {
      encoding: "utf8",
    });
    expect(`v${nodeVersion}`).toBe(installed.trim());
    expect(process.version).toBe(installed.trim());
    const root = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as Manifest;
    expect(new Set(Object.values(root.optionalDependencies ?? {}))).toEqual(new Set([nodeVersion]));
  });
});
