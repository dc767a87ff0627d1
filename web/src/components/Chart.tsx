// Apache ECharts through echarts/core with only the pieces the app draws
// (bar and line charts on a grid, tooltip, legend, canvas), so the bundle
// stays small. Options are merged on update, so live data redraws in place.
import { useEffect, useRef } from 'react';
import * as echarts from 'echarts/core';
import { BarChart, LineChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import type { EChartsCoreOption } from 'echarts/core';
import { useEffectiveTheme } from '../lib/theme';

echarts.use([BarChart, LineChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer]);

export type ChartOption = EChartsCoreOption;

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** Colours of the theme in effect, read from the stylesheet's tokens. */
export function chartColors() {
  return {
    text: cssVar('--muted') || '#5b6470',
    faint: cssVar('--faint') || '#6b7380',
    border: cssVar('--border') || '#dde1e7',
    panel: cssVar('--panel') || '#fff',
    accent: cssVar('--accent') || '#2456c7',
    ok: cssVar('--ok') || '#1a7f37',
    sev: {
      critical: cssVar('--sev-critical'),
      high: cssVar('--sev-high'),
      medium: cssVar('--sev-medium'),
      low: cssVar('--sev-low'),
      informational: cssVar('--sev-informational'),
    } as Record<string, string>,
    palette: ['--accent', '--sev-high', '--ok', '--sev-medium', '--sev-critical', '--sev-low', '--faint'].map(cssVar),
  };
}

export type ChartColors = ReturnType<typeof chartColors>;

/** Axis, grid and tooltip styling shared by every chart. */
export function baseOption(c: ChartColors): EChartsCoreOption {
  return {
    animation: false,
    color: c.palette,
    textStyle: { color: c.text, fontFamily: 'system-ui, sans-serif' },
    grid: { left: 8, right: 16, top: 28, bottom: 8, containLabel: true },
    tooltip: {
      trigger: 'axis',
      backgroundColor: c.panel,
      borderColor: c.border,
      textStyle: { color: c.text, fontSize: 12 },
    },
    legend: { top: 0, left: 0, textStyle: { color: c.text, fontSize: 12 }, itemWidth: 12, itemHeight: 8 },
  };
}

export function Chart({
  build,
  className = 'chart',
  label,
  total,
}: {
  /** Sum of the plotted values, exposed as data-total (tests, debugging). */
  total?: number;
  /** Builds the option from the theme's colours; called again on theme change. */
  build: (c: ChartColors) => EChartsCoreOption;
  className?: string;
  label: string;
}) {
  const el = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | null>(null);
  const theme = useEffectiveTheme();
  const lastTheme = useRef(theme);

  useEffect(() => {
    if (!el.current) return;
    const inst = echarts.init(el.current, undefined, { renderer: 'canvas' });
    chart.current = inst;
    const ro = new ResizeObserver(() => inst.resize());
    ro.observe(el.current);
    return () => {
      ro.disconnect();
      inst.dispose();
      chart.current = null;
    };
  }, []);

  useEffect(() => {
    const inst = chart.current;
    if (!inst) return;
    const themeChanged = lastTheme.current !== theme;
    lastTheme.current = theme;
    inst.setOption(build(chartColors()), { notMerge: themeChanged, lazyUpdate: true, replaceMerge: ['series'] });
  }, [build, theme]);

  return <div ref={el} className={className} role="img" aria-label={label} data-total={total} />;
}
