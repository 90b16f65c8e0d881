/** Rendered text-line PNGs with the text each reads, for tests that match every answer to its own image. */
import { randomLine, renderTextLine, seededRng } from '../../shared/text-line-images.ts';

export interface TextLineImage {
  readonly text: string;
  readonly png: Uint8Array<ArrayBuffer>;
}

/** `n` lines of 6–8 characters (any '-' dropped), the same for the same `seed`. */
export function textLineImages(seed: number, n: number): Promise<TextLineImage[]> {
  const rng = seededRng(seed);
  return Promise.all(
    Array.from({ length: n }, async () => {
      const text = randomLine(rng, { minChars: 6, maxChars: 8 }).replace('-', '');
      return { text, png: new Uint8Array(await renderTextLine(text)) };
    }),
  );
}
