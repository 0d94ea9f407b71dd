import { summariseRss } from './stats';

/** 300 one-second samples of a 5-minute run, RSS and heap used from `at(t)`. */
function run(at: (t: number) => number) {
  return Array.from({ length: 301 }, (_, t) => ({ t, rss: at(t), heap: at(t) / 3 }));
}

describe('summariseRss', () => {
  it('calls a floor that stays put flat, however the samples swing above it', () => {
    const summary = summariseRss(run((t) => 180 + ((t * 37) % 50)), 1);
    expect(summary.rss_flat).toBe(true);
    expect(Math.abs(summary.slope_mb_per_min)).toBeLessThan(0.5);
    expect(summary.window_s).toBe(60);
  });

  it('is not swayed by one late stretch between two major collections', () => {
    const summary = summariseRss(run((t) => (t >= 280 ? 290 : 170) + ((t * 37) % 20)), 1);
    expect(summary.rss_flat).toBe(true);
    expect(summary.lsq_slope_mb_per_min).toBeGreaterThan(2);
  });

  it('calls steady growth of the floor what it is', () => {
    const summary = summariseRss(run((t) => 150 + t * 0.1 + ((t * 37) % 50)), 1);
    expect(summary.rss_flat).toBe(false);
    expect(summary.slope_mb_per_min).toBeCloseTo(6, 0);
    expect(summary.growth_mb).toBeGreaterThan(20);
  });

  it('says when a run is too short to tell growth from warm-up', () => {
    expect(summariseRss(run((t) => 100 + t).slice(0, 5), 1).flat_threshold).toMatch(/too short/);
  });
});
