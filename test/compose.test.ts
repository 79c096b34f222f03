import { readFileSync } from "node:fs";
import { join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it, expect } from "vitest";
import { parse } from "yaml";
import { ConfigError, loadConfigFile } from "../src/config/load.js";

/**
 * The deployment files (docker-compose.yml, deploy/, Dockerfile) read as they are on disk.
 * There is no Docker engine in CI, so these checks are what keeps the replicas sharing one
 * Redis, one configuration and one load balancer.
 */

const root = fileURLToPath(new URL("..", import.meta.url));
const readRepoFile = (path: string) => readFileSync(join(root, path), "utf8");

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string | string[];
  environment?: Record<string, string | number | null> | string[];
  volumes?: string[];
  ports?: string[];
  healthcheck?: { test?: string | string[] };
  depends_on?: string[] | Record<string, { condition?: string }>;
  stop_grace_period?: string;
}

interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

// Compose files share definitions through YAML merge keys (`<<: *anchor`).
const compose = parse(readRepoFile("docker-compose.yml"), { merge: true }) as ComposeFile;
const services = compose.services ?? {};
const replicaNames = Object.keys(services).filter((name) => services[name]!.build !== undefined).sort();
const replicas = replicaNames.map((name) => services[name]!);

function environmentOf(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((entry) => [entry.split("=")[0]!, entry.slice(entry.indexOf("=") + 1)]));
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? "" : String(v)]));
}

/** Short-syntax mounts `source:target[:mode]` as {source, target}. */
function mountsOf(service: ComposeService): { source: string; target: string }[] {
  return (service.volumes ?? []).map((volume) => {
    const [source = "", target = ""] = volume.split(":");
    return { source, target };
  });
}

/** Compose durations such as `40s`, `1m30s`, `500ms`, in milliseconds. */
function durationMs(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  expect(parts.map((p) => p[0]).join(""), `duration "${text}"`).toBe(text);
  return parts.reduce((sum, p) => sum + Number(p[1]) * units[p[2]!]!, 0);
}

const composeConfigPath = join(root, "deploy/config.compose.yaml");
const replicaEnv = replicas[0] ? environmentOf(replicas[0]) : {};
const sampleEnv = {
  REDIS_URL: replicaEnv.REDIS_URL,
  TOLLGATE_LEDGER_URL: "postgres://tollgate:sample@postgres:5432/tollgate",
  TOLLGATE_KEY_APP: "sk-app-sample",
  TOLLGATE_ADMIN_KEY: "sk-admin-sample",
  OPENAI_API_KEY: "sk-openai-sample",
  ANTHROPIC_API_KEY: "sk-anthropic-sample",
};

describe("docker-compose.yml", () => {
  it("parses, with redis, postgres, nginx and proxy replicas", () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(["redis", "postgres", "nginx"]));
    expect(replicaNames.length).toBeGreaterThan(0);
  });

  it("runs redis with append-only persistence on a named volume, and a health check", () => {
    const redis = services.redis!;
    expect(redis.image).toMatch(/^redis:/);
    const command = Array.isArray(redis.command) ? redis.command : (redis.command ?? "").split(/\s+/);
    expect(command[command.indexOf("--appendonly") + 1]).toBe("yes");
    expect(command).toContain("--appendonly");
    const data = mountsOf(redis).find((m) => m.target === "/data");
    expect(data, "a volume mounted on /data").toBeDefined();
    expect(Object.keys(compose.volumes ?? {})).toContain(data!.source);
    expect([redis.healthcheck?.test].flat().join(" ")).toMatch(/redis-cli.*ping/);
  });

  it("has exactly three proxy replicas, all one definition", () => {
    expect(replicaNames).toEqual(["tollgate-1", "tollgate-2", "tollgate-3"]);
    for (const replica of replicas) expect(replica).toEqual(replicas[0]);
  });

  it("points every replica at the redis service by name, and starts them once redis is healthy", () => {
    const urls = replicas.map((replica) => environmentOf(replica).REDIS_URL);
    expect(new Set(urls).size).toBe(1);
    const url = new URL(urls[0]!);
    expect(url.protocol).toBe("redis:");
    expect(url.hostname).toBe("redis");
    expect(services[url.hostname]).toBeDefined();
    for (const replica of replicas) {
      expect(replica.depends_on).toMatchObject({ redis: { condition: "service_healthy" } });
    }
  });

  it("runs postgres on a named volume with a health check, and points every replica's ledger at it", () => {
    const postgres = services.postgres!;
    expect(postgres.image).toMatch(/^postgres:/);
    const data = mountsOf(postgres).find((m) => m.target === "/var/lib/postgresql/data");
    expect(Object.keys(compose.volumes ?? {})).toContain(data?.source);
    expect([postgres.healthcheck?.test].flat().join(" ")).toMatch(/pg_isready/);
    const env = environmentOf(postgres);
    for (const replica of replicas) {
      // Compose fills ${POSTGRES_PASSWORD:?...} from the shell; any value makes the URL whole.
      const url = new URL(environmentOf(replica).TOLLGATE_LEDGER_URL!.replace(/\$\{[^}]*\}/g, "sample"));
      expect(url.hostname).toBe("postgres");
      expect([url.username, url.pathname]).toEqual([env.POSTGRES_USER, `/${env.POSTGRES_DB}`]);
      expect(replica.depends_on).toMatchObject({ postgres: { condition: "service_healthy" } });
    }
  });

  it("gives the replicas' settle journal a named volume at store.journal_dir", () => {
    const { config } = loadConfigFile(composeConfigPath, sampleEnv);
    for (const replica of replicas) {
      const journal = mountsOf(replica).find((m) => m.target === config.store.journal_dir);
      expect(Object.keys(compose.volumes ?? {})).toContain(journal?.source);
    }
  });

  it("checks each replica's health on /ready, which fails while its budget store is unreachable", () => {
    for (const replica of replicas) expect([replica.healthcheck?.test].flat().join(" ")).toMatch(/127\.0\.0\.1:8787\/ready'/);
  });

  it("gives every replica the same configuration file: deploy/config.compose.yaml", () => {
    const configs = replicas.map((replica) => {
      const target = environmentOf(replica).TOLLGATE_CONFIG;
      expect(target, "TOLLGATE_CONFIG").toBeTruthy();
      const mount = mountsOf(replica).find((m) => m.target === target);
      expect(mount, `a mount at ${target}`).toBeDefined();
      return normalize(mount!.source);
    });
    expect(configs).toEqual(replicas.map(() => normalize("deploy/config.compose.yaml")));
  });

  it("passes every variable the configuration requires into the replicas", () => {
    const text = readFileSync(composeConfigPath, "utf8").replace(/(^|\s)#[^\n]*/g, "$1");
    const required = [...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]!);
    expect(required).toContain("REDIS_URL");
    for (const replica of replicas) expect(Object.keys(environmentOf(replica))).toEqual(expect.arrayContaining(required));
  });

  it("lets a replica drain and settle before it is killed", () => {
    const { config } = loadConfigFile(composeConfigPath, sampleEnv);
    // After the grace period the proxy spends up to 5 s more settling what finished.
    const needed = config.server.shutdown_grace_ms + 5000;
    for (const replica of replicas) expect(durationMs(replica.stop_grace_period ?? "10s")).toBeGreaterThan(needed);
  });
});

describe("deploy/nginx.conf", () => {
  const nginxConf = readRepoFile("deploy/nginx.conf").replace(/#[^\n]*/g, "");
  const upstreams = [...nginxConf.matchAll(/upstream\s+([\w-]+)\s*\{([^}]*)\}/g)];
  const { config } = loadConfigFile(composeConfigPath, sampleEnv);

  it("is the configuration of the nginx service, which publishes the proxy's port", () => {
    const nginx = services.nginx!;
    expect(nginx.image).toMatch(/^nginx:/);
    expect(mountsOf(nginx)).toContainEqual({ source: "./deploy/nginx.conf", target: "/etc/nginx/nginx.conf" });
    expect(nginx.ports?.map(String)).toContain(`${config.server.port}:${config.server.port}`);
    expect(Object.keys(nginx.depends_on ?? {}).sort()).toEqual(replicaNames);
  });

  it("balances over exactly the three replicas", () => {
    expect(upstreams).toHaveLength(1);
    const [, name, body] = upstreams[0]!;
    const servers = [...body!.matchAll(/^\s*server\s+([^\s;]+)/gm)].map((m) => m[1]);
    expect(servers.sort()).toEqual(replicaNames.map((replica) => `${replica}:${config.server.port}`));
    expect(nginxConf).toMatch(new RegExp(`proxy_pass\\s+http://${name};`));
  });

  it("streams: no proxy buffering, long reads, HTTP/1.1 keep-alive to the replicas", () => {
    expect(nginxConf).toMatch(/proxy_buffering\s+off;/);
    expect(nginxConf).not.toMatch(/proxy_buffering\s+on;/);
    expect(nginxConf).toMatch(/proxy_read_timeout\s+600s;/);
    expect(nginxConf).toMatch(/proxy_http_version\s+1\.1;/);
    expect(nginxConf).toMatch(/proxy_set_header\s+Connection\s+"";/);
    expect(upstreams[0]?.[2]).toMatch(/keepalive\s+\d+;/);
  });

  it("accepts the same body size as the proxy", () => {
    expect(nginxConf).toMatch(new RegExp(`client_max_body_size\\s+${config.server.body_limit_mb}m;`));
  });
});

describe("deploy/config.compose.yaml", () => {
  it("loads through the proxy's own loader, shared through redis and listening for nginx", () => {
    const { config, warnings } = loadConfigFile(composeConfigPath, sampleEnv);
    expect(warnings).toEqual([]);
    expect(config.store.redis_url).toBe(replicaEnv.REDIS_URL);
    expect(config.ledger.postgres_url).toBe(sampleEnv.TOLLGATE_LEDGER_URL);
    expect(config.server.host).toBe("0.0.0.0");
    // Not loopback, so it must not run open.
    expect(config.server.allow_open).toBe(false);
    expect(config.keys.map((k) => k.key)).toEqual(["sk-app-sample"]);
    expect(config.admin_key).toBe("sk-admin-sample");
  });

  it("refuses to start without REDIS_URL rather than fall back to a per-replica memory store", () => {
    expect(() => loadConfigFile(composeConfigPath, { ...sampleEnv, REDIS_URL: "" })).toThrow(ConfigError);
  });

  it("has the same models and tiers as config.yaml", () => {
    const example = loadConfigFile(join(root, "config.yaml"), sampleEnv).config;
    const { config } = loadConfigFile(composeConfigPath, sampleEnv);
    expect(config.models).toEqual(example.models);
    expect(config.tiers).toEqual(example.tiers);
    expect(config.upstreams).toEqual(example.upstreams);
  });
});

describe("Dockerfile", () => {
  const dockerfile = readRepoFile("Dockerfile");

  it("runs node itself as the non-root user, so SIGTERM reaches the proxy", () => {
    const cmd = /^CMD\s+(\[.*\])\s*$/m.exec(dockerfile);
    expect(cmd, "an exec-form CMD").not.toBeNull();
    // The compiled build, not the TypeScript loader.
    expect(JSON.parse(cmd![1]!) as string[]).toEqual(["node", "dist/main.js"]);
    expect(dockerfile).toMatch(/^USER\s+node\s*$/m);
  });

  it("exposes the configured port and checks /ready on it", () => {
    const { config } = loadConfigFile(composeConfigPath, sampleEnv);
    expect(dockerfile).toMatch(new RegExp(`^EXPOSE\\s+${config.server.port}\\s*$`, "m"));
    expect(dockerfile).toMatch(new RegExp(`^HEALTHCHECK[\\s\\S]*127\\.0\\.0\\.1:${config.server.port}/ready`, "m"));
  });
});
