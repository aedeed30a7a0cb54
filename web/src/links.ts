/** Short-lived media links (`POST …/links`, valid 10 minutes): download anchors that ask for
 * fresh links when the ones they hold have expired, so a page left open still downloads. */
import type { Api } from "./api";
import { h } from "./dom";

interface Expiring {
  expiresAt: string;
}

/** Keeps the latest links of one recording or exam and renews them shortly before expiry. */
export class LinkSource<T extends Expiring> {
  constructor(
    private readonly api: Api,
    private readonly path: string,
    private current: T | null = null,
  ) {}

  async get(): Promise<T> {
    const margin_ms = 30_000;
    if (!this.current || Date.parse(this.current.expiresAt) - Date.now() < margin_ms) {
      this.current = await this.api.post<T>(this.path);
    }
    return this.current;
  }
}

/** `<a download>` to `pick(links)&download=1`, renewed on click when needed. */
export function downloadLink<T extends Expiring>(
  api: Api,
  source: LinkSource<T>,
  initial: T,
  pick: (links: T) => string,
  label: string,
  id: string,
): HTMLAnchorElement {
  const anchor = h("a", { class: "button", id, href: api.url(`${pick(initial)}&download=1`), download: "" }, label);
  anchor.addEventListener("click", (event) => {
    if (anchor.dataset.fresh === "1") {
      delete anchor.dataset.fresh;
      return;
    }
    if (Date.parse(initial.expiresAt) - Date.now() > 30_000) return;
    event.preventDefault();
    void source.get().then((links) => {
      initial = links;
      anchor.href = api.url(`${pick(links)}&download=1`);
      anchor.dataset.fresh = "1";
      anchor.click();
    });
  });
  return anchor;
}
