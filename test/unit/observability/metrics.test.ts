import { describe, expect, it } from 'vitest';
import { Metrics } from '../../../src/observability/metrics.js';

describe('Metrics', () => {
  it('counts calls, denials, backend errors and auth failures with bounded labels', async () => {
    const metrics = new Metrics({ processMetrics: false });
    metrics.callFinished({ tool: 'get_repo', permission: 'gh:read', errorCode: undefined, durationMs: 12 });
    metrics.callFinished({
      tool: 'get_repo',
      permission: 'gh:read',
      errorCode: 'rate_limited',
      durationMs: 1,
    });
    metrics.callFinished({
      tool: 'get_repo',
      permission: 'gh:read',
      errorCode: 'secret_backend_unavailable',
      durationMs: 3,
    });
    metrics.authFailure('invalid_token');
    metrics.setSessions('sse', 3);
    const text = await metrics.render();
    expect(text).toContain('keyward_tool_calls_total{tool="get_repo",outcome="ok"} 1');
    expect(text).toContain('keyward_tool_calls_total{tool="get_repo",outcome="rate_limited"} 1');
    expect(text).toContain('keyward_denials_total{code="rate_limited"} 1');
    expect(text).not.toContain('keyward_denials_total{code="secret_backend_unavailable"}');
    expect(text).toContain(
      'keyward_secret_backend_errors_total{backend="unknown",code="secret_backend_unavailable"} 1',
    );
    expect(text).toContain('keyward_http_auth_failures_total{reason="invalid_token"} 1');
    expect(text).toContain('keyward_http_sessions{transport="sse"} 3');
    expect(text).toMatch(/keyward_tool_call_duration_seconds_bucket\{le="0.025",tool="get_repo"\} 3/);
    expect(text).not.toContain('process_cpu');
  });

  it('keeps separate registries per instance', async () => {
    const a = new Metrics({ processMetrics: false });
    const b = new Metrics({ processMetrics: false });
    a.authFailure('origin');
    expect(await b.render()).not.toContain('reason="origin"');
  });
});
