// Preloaded (--import) into every server under test: reports event-loop delay and RSS to stderr
// once a second as `BENCH_ELD {"p50":…,"p99":…,"max":…,"rss":…}` (ms, bytes). Never touches stdout.
/* global setInterval */
import { monitorEventLoopDelay } from 'node:perf_hooks';

const h = monitorEventLoopDelay({ resolution: 10 });
h.enable();
setInterval(() => {
  const ms = (ns) => Number((ns / 1e6).toFixed(3));
  const line = {
    p50: ms(h.percentile(50)),
    p99: ms(h.percentile(99)),
    max: ms(h.max),
    rss: process.memoryUsage.rss(),
  };
  h.reset();
  process.stderr.write(`BENCH_ELD ${JSON.stringify(line)}\n`);
}, 1000).unref();
