/** Runs the scenarios of the design doc §5.2 that apply, one after another (never concurrently). */
import { type ScenarioContext, type ScenarioResult, log } from './scenario.js';

type Scenario = (ctx: ScenarioContext) => Promise<ScenarioResult>;

const ALL: Record<string, () => Promise<Scenario>> = {
  'multi-session': async () => (await import('./multi-session.js')).multiSessionScenario,
  credentials: async () => (await import('./credentials.js')).credentialsScenario,
  'audit-sinks': async () => (await import('./audit-sinks.js')).auditSinksScenario,
  history: async () => (await import('./history.js')).historyScenario,
  'open-loop': async () => (await import('./open-loop.js')).openLoopScenario,
  payload: async () => (await import('./payload.js')).payloadScenario,
  'fast-fail': async () => (await import('./fast-fail.js')).fastFailScenario,
  'slow-upstream': async () => (await import('./slow-upstream.js')).slowUpstreamScenario,
  'cold-start': async () => (await import('./cold-start.js')).coldStartScenario,
  soak: async () => (await import('./soak.js')).soakScenario,
};

/** The scenarios of `--quick` (the acceptance gates); the full run does all of them. */
const QUICK = ['multi-session', 'credentials', 'audit-sinks', 'history', 'fast-fail'];

export async function runScenarios(
  options: ScenarioContext & { only: string[] | undefined },
): Promise<Record<string, ScenarioResult | { failed: string }>> {
  const out: Record<string, ScenarioResult | { failed: string }> = {};
  for (const [name, load] of Object.entries(ALL)) {
    if (options.only ? !options.only.includes(name) : options.quick && !QUICK.includes(name)) continue;
    const t0 = Date.now();
    try {
      out[name] = await (await load())(options);
      log(`scenario ${name}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    } catch (e) {
      out[name] = { failed: String((e as Error)?.stack ?? e).slice(0, 800) };
      log(`scenario ${name} FAILED: ${out[name].failed}`);
    }
  }
  return out;
}
