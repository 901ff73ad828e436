/**
 * Light and dark themes: the system's preference until the operator picks one with the toggle (kept in
 * localStorage). The theme is a `data-theme` attribute on <html>; the CSS holds both palettes.
 */
export type Theme = 'light' | 'dark';

const KEY = 'lmgw.theme';

function stored(): Theme | undefined {
  try {
    const v = window.localStorage.getItem(KEY);
    return v === 'light' || v === 'dark' ? v : undefined;
  } catch {
    return undefined;
  }
}

export function initialTheme(): Theme {
  return stored() ?? (window.matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark');
}

export function applyTheme(theme: Theme): void {
  document.documentElement.dataset['theme'] = theme;
}

export function saveTheme(theme: Theme): void {
  applyTheme(theme);
  try {
    window.localStorage.setItem(KEY, theme);
  } catch {
    // Private mode: the choice lasts for this page only.
  }
}

export function currentTheme(): Theme {
  return document.documentElement.dataset['theme'] === 'light' ? 'light' : 'dark';
}
