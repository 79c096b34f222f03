import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** PEM files a test makes with openssl: a CA, and a server certificate it signed for 127.0.0.1. */
export interface TestCertificates {
  dir: string;
  ca: string;
  cert: string;
  key: string;
  /** A second CA that signed nothing here: trusting it alone is trusting the wrong one. */
  otherCa: string;
}

export function makeCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-tls-"));
  const path = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  for (const ca of ["ca", "other-ca"]) {
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj", `/CN=tollgate test ${ca}`, "-keyout", path(`${ca}.key`), "-out", path(`${ca}.crt`));
  }
  openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", path("server.key"), "-out", path("server.csr"));
  writeFileSync(path("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  openssl("x509", "-req", "-in", path("server.csr"), "-CA", path("ca.crt"), "-CAkey", path("ca.key"), "-CAcreateserial", "-days", "3650", "-extfile", path("server.ext"), "-out", path("server.crt"));
  return { dir, ca: path("ca.crt"), cert: path("server.crt"), key: path("server.key"), otherCa: path("other-ca.crt") };
}
