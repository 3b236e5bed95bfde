// Preloaded (--import) by bench/heap-soak.ts: appends process.memoryUsage() (bytes) and the V8 heap
// space sizes to the file named by MEMORY_PROBE_FILE once a second, one JSON line each. Never
// touches stdout.
/* global setInterval */
import { appendFileSync } from 'node:fs';
import v8 from 'node:v8';

const file = process.env.MEMORY_PROBE_FILE;
if (file) {
  const start = Date.now();
  setInterval(() => {
    const spaces = {};
    for (const s of v8.getHeapSpaceStatistics()) spaces[s.space_name] = s.space_size;
    appendFileSync(file, JSON.stringify({ t: Date.now() - start, ...process.memoryUsage(), spaces }) + '\n');
  }, 1000).unref();
}
