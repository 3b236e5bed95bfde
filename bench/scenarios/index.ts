/** Runs the scenarios of the design doc §5.2 that apply, one after another (never concurrently). */
import { type ScenarioContext, type ScenarioResult, log } from './scenario.js';

type Scenario = (ctx: ScenarioContext) => Promise<ScenarioResult>;

const ALL: Record<string, () => Promise<Scenario>> = {};

export async function runScenarios(
  options: ScenarioContext & { only: string[] | undefined },
): Promise<Record<string, ScenarioResult | { failed: string }>> {
  const out: Record<string, ScenarioResult | { failed: string }> = {};
  for (const [name, load] of Object.entries(ALL)) {
    if (options.only && !options.only.includes(name)) continue;
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
