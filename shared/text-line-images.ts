/**
 * Inputs for the tools and tests: text-line images rendered with sharp's Pango text input, and
 * random text lines from a seeded stream. Used by the profile and load CLIs, the benchmarks and
 * the test suites; it generates data instead of shipping fixtures. Not used by the agent or the
 * FC function themselves.
 */
import sharp from 'sharp';

/** Anything with a uniform [0, 1) `next()`, e.g. `Rng` from shared/rng.ts. */
export interface UniformSource {
  next(): number;
}

/**
 * A tiny seeded generator (mulberry32) for callers that do not want shared/rng.ts.
 * @example const rng = seededRng(7); randomLine(rng);
 */
export function seededRng(seed: number): UniformSource {
  let s = seed >>> 0;
  return {
    next() {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

export interface RenderOptions {
  /** Pango font description. @default 'DejaVu Sans' */
  readonly font?: string;
  /** Rendering resolution; 150 dpi gives ~30 px tall glyphs. @default 150 */
  readonly dpi?: number;
  /** White margin on every side. @default 12 */
  readonly paddingPx?: number;
}

/**
 * Render one line of text, black on white, as an RGB PNG with a white margin.
 * @example const png = await renderTextLine('AB-12cd');
 */
export async function renderTextLine(text: string, opts: RenderOptions = {}): Promise<Buffer<ArrayBuffer>> {
  const pad = opts.paddingPx ?? 12;
  // Pango markup: escape so '<' or '&' in random text cannot break rendering.
  const escaped = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  // Pango's text input is a coverage mask: white glyphs on black. Negate to ink on paper, then pad.
  const glyphs = await sharp({ text: { text: escaped, font: opts.font ?? 'DejaVu Sans', dpi: opts.dpi ?? 150 } })
    .negate({ alpha: false })
    .png()
    .toBuffer();
  const png = await sharp(glyphs)
    .extend({ top: pad, bottom: pad, left: pad, right: pad, background: '#ffffff' })
    .toColourspace('srgb')
    .png()
    .toBuffer();
  // sharp's buffers own a plain ArrayBuffer; saying so lets callers pass them to fetch/Blob.
  return png as Buffer<ArrayBuffer>;
}

// Digits and letters without the glyphs that even a reader cannot tell apart in one line of
// DejaVu Sans without context: 0 O o, 1 I l, J j, and upper/lower pairs drawn the same but for
// size (C c, S s, V v, W w, X x, Z z). Scoring recognition on those would measure the font,
// not the pipeline (PP-OCRv4 reads a lone DejaVu '0' as 'O', 'jJ' as 'j').
export const LINE_ALPHABET = '23456789ABDEFGHKLMNPQRTUYabdefghikmnpqrtuy';

/**
 * A random line of 4-12 characters from {@link LINE_ALPHABET}, with at most one inner dash
 * (never leading, trailing or doubled, so the text reads unambiguously).
 */
export function randomLine(rng: UniformSource, opts: { minChars?: number; maxChars?: number } = {}): string {
  const min = opts.minChars ?? 4;
  const max = opts.maxChars ?? 12;
  const n = min + Math.floor(rng.next() * (max - min + 1));
  let s = '';
  for (let i = 0; i < n; i++) s += LINE_ALPHABET[Math.floor(rng.next() * LINE_ALPHABET.length)];
  if (n >= 4 && rng.next() < 0.6) {
    const at = 1 + Math.floor(rng.next() * (n - 2));
    s = `${s.slice(0, at)}-${s.slice(at)}`;
  }
  return s;
}
