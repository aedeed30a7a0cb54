/** A simple body diagram in SVG: a chest seen from the front (heart valve areas, anterior and
 * lateral lung fields, trachea) and from the back (posterior lung fields), each site a marker
 * coloured by its state and linked to its recording. Positions follow the placement
 * instructions in functions/stethoscope/sites.py (valve areas by intercostal space and sternal
 * border; lung fields upper/middle/lower). Left and right are the patient's: the patient's left
 * is the viewer's right on the front view and the viewer's left on the back view. */
import { svg } from "../dom";
import { siteName } from "../format";

export type SiteState = "pending" | "busy" | "normal" | "finding" | "unusable" | "failed";

export interface SiteMark {
  site: string;
  state: SiteState;
  text: string;
  link?: string;
}

const FRONT_X = 110;
const BACK_X = 330;
const LEVEL_Y = { upper: 95, middle: 145, lower: 195 } as const;

const HEART: Record<string, [number, number]> = {
  aortic: [FRONT_X - 18, 92],
  pulmonic: [FRONT_X + 18, 92],
  tricuspid: [FRONT_X + 14, 150],
  mitral: [FRONT_X + 48, 168],
};

/** Where a site sits in the 440 × 260 drawing. */
export function sitePosition(site: string): [number, number] | null {
  if (HEART[site]) return HEART[site];
  if (site === "trachea") return [FRONT_X, 38];
  const [face, side, level] = site.split("-");
  const y = LEVEL_Y[level as keyof typeof LEVEL_Y];
  if (y === undefined) return null;
  const outward = side === "left" ? 1 : -1;
  if (face === "anterior") return [FRONT_X + outward * 40, y];
  if (face === "lateral") return [FRONT_X + outward * 78, y + 10];
  if (face === "posterior") return [BACK_X - outward * 40, y];
  return null;
}

function torso(cx: number, label: string): SVGElement {
  return svg(
    "g",
    { class: "torso" },
    svg("path", { d: `M${cx - 22},20 h44 v18 q60,6 66,40 l8,170 h-192 l8,-170 q6,-34 66,-40 z` }),
    svg("text", { x: cx, y: 252, "text-anchor": "middle", class: "axis" }, label),
  );
}

export function bodyDiagram(marks: SiteMark[], title: string): SVGElement {
  const drawing = svg(
    "svg",
    { viewBox: "0 0 440 260", class: "body-diagram", role: "group", "aria-label": title },
    svg("title", {}, title),
    torso(FRONT_X, "front (R | L)"),
    torso(BACK_X, "back (L | R)"),
  );
  for (const mark of marks) {
    const at = sitePosition(mark.site);
    if (!at) continue;
    const dot = svg(
      "g",
      { class: `site site-${mark.state}`, "data-site": mark.site },
      svg("circle", { cx: at[0], cy: at[1], r: 11 }),
      svg("title", {}, `${siteName(mark.site)}: ${mark.text}`),
    );
    drawing.appendChild(
      mark.link
        ? svg("a", { href: mark.link, "aria-label": `${siteName(mark.site)}: ${mark.text}` }, dot)
        : dot,
    );
  }
  return drawing;
}
