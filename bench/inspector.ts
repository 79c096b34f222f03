import { request, WebSocket } from "undici";

/**
 * A full garbage collection in another Node process, through its inspector (started with
 * --inspect). Memory read right after one measures what the process holds, not how far its
 * heap had grown since the last collection.
 */
export async function collectGarbage(inspectPort: number): Promise<void> {
  const res = await request(`http://127.0.0.1:${inspectPort}/json/list`);
  const [target] = (await res.body.json()) as Array<{ webSocketDebuggerUrl: string }>;
  if (!target) throw new Error(`no inspector target on port ${inspectPort}`);
  const socket = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener("open", () => resolve(), { once: true });
    socket.addEventListener("error", () => reject(new Error("inspector connection failed")), { once: true });
  });
  try {
    for (const id of [1, 2]) {
      const answered = new Promise<void>((resolve) => {
        const onMessage = (event: { data: unknown }) => {
          if ((JSON.parse(String(event.data)) as { id?: number }).id !== id) return;
          socket.onmessage = null;
          resolve();
        };
        socket.onmessage = onMessage;
      });
      socket.send(JSON.stringify({ id, method: "HeapProfiler.collectGarbage" }));
      await answered;
    }
  } finally {
    socket.close();
  }
}
