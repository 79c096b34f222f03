import { randomUUID } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";

export { postgresAnswers } from "./own-postgres.js";

declare module "vitest" {
  export interface ProvidedContext {
    postgresUrl: string;
  }
}

/** The PostgreSQL the tests use: POSTGRES_URL, else the one globalSetup found or started. */
export function postgresUrl(): string {
  const url = process.env.POSTGRES_URL ?? inject("postgresUrl");
  if (!url) {
    throw new Error(
      "no PostgreSQL for the tests: nothing answers on 127.0.0.1:5432 (database test) and its binaries are missing; install postgresql or set POSTGRES_URL",
    );
  }
  return url;
}

/** A schema name of this test's own, so tests never see each other's tables. */
export function uniqueSchema(): string {
  return `tgtest_${randomUUID().replaceAll("-", "").slice(0, 10)}`;
}

/** Runs one query on `url` in `schema` with a connection of its own. */
export async function sql<R extends pg.QueryResultRow = Record<string, unknown>>(url: string, schema: string, text: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
  client.on("error", () => {});
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
}

/** Drops `schema` (and only it). */
export async function dropSchema(url: string, schema: string): Promise<void> {
  if (!/^tgtest_[a-z0-9]+$/.test(schema)) throw new Error(`refusing to drop ${schema}: not a test schema`);
  await sql(url, "public", `DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}
