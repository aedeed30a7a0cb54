/** Boot: configuration, Firebase, sign-in, the clinic, then the view the URL names. */
import { onAuthStateChanged, signOut } from "firebase/auth";
import { Api } from "./api";
import { loadConfig } from "./config";
import { h, replace } from "./dom";
import { startFirebase } from "./firebase";
import { parseRoute, href, type Route } from "./router";
import { type Session, chooseClinic, readsClinicalData, rememberClinic } from "./session";
import "./style.css";
import type { Me } from "./types/api.gen";
import { renderAdmin } from "./views/admin";
import { renderExam } from "./views/exam";
import { renderPatient } from "./views/patient";
import { renderReview } from "./views/review";
import { renderNoClinic, renderSignIn } from "./views/signin";
import { renderWorklist } from "./views/worklist";

const main = document.getElementById("main") as HTMLElement;
const top = document.getElementById("top") as HTMLElement;
let stopView: (() => void) | void;

async function boot(): Promise<void> {
  const config = await loadConfig();
  const { auth, db } = startFirebase(config);
  const api = new Api(config.apiBase, auth);
  let session: Session | null = null;

  const show = (): void => {
    if (stopView) stopView();
    stopView = undefined;
    if (!session) return;
    const route = parseRoute(location.hash);
    renderHeader(session, route);
    main.replaceChildren();
    const views = { worklist: renderWorklist, patient: renderPatient, exam: renderExam, recording: renderReview, admin: renderAdmin };
    stopView = views[route.name](session, main, route);
    main.focus({ preventScroll: true });
  };
  window.addEventListener("hashchange", show);

  onAuthStateChanged(auth, async (user) => {
    if (stopView) stopView();
    stopView = undefined;
    session = null;
    if (!user) {
      replace(top, h("span", { class: "brand" }, "Stethoscope"));
      renderSignIn(main, auth);
      return;
    }
    replace(main, h("p", { class: "muted" }, "Loading your clinics…"));
    try {
      const me = await api.get<Me>("/v1/me");
      const wanted = new URLSearchParams(location.search).get("clinic");
      const clinic = chooseClinic(me, wanted);
      if (!clinic) {
        replace(top, h("span", { class: "brand" }, "Stethoscope"), signOutButton());
        renderNoClinic(main, api, me, () => location.reload());
        return;
      }
      session = { config, auth, db, api, me, clinic };
      show();
    } catch (error) {
      replace(main, h("p", { class: "error", role: "alert" }, `Could not load your account: ${String(error)}`));
    }
  });

  function signOutButton(): HTMLElement {
    return h("button", { type: "button", class: "link-button", onclick: () => void signOut(auth) }, "Sign out");
  }

  function renderHeader(current: Session, route: Route): void {
    const link = (name: Route["name"], label: string): HTMLElement =>
      h("a", { href: href(name), "aria-current": route.name === name ? "page" : null }, label);
    const clinics = current.me.clinics;
    const picker =
      clinics.length > 1
        ? h(
            "label",
            { class: "clinic-picker" },
            h("span", { class: "visually-hidden" }, "Clinic"),
            h(
              "select",
              {
                onchange: (event: Event) => {
                  const id = (event.target as HTMLSelectElement).value;
                  rememberClinic(id);
                  session = { ...current, clinic: clinics.find((c) => c.clinicId === id) ?? current.clinic };
                  location.hash = "#/";
                  show();
                },
              },
              clinics.map((c) => h("option", { value: c.clinicId, selected: c.clinicId === current.clinic.clinicId }, c.name ?? c.clinicId)),
            ),
          )
        : h("span", { class: "clinic-name" }, current.clinic.name ?? current.clinic.clinicId);
    replace(
      top,
      h("span", { class: "brand" }, "Stethoscope"),
      picker,
      h("nav", { "aria-label": "Main" }, link("worklist", "Worklist"), current.clinic.role === "admin" && link("admin", "Admin")),
      h("span", { class: "who" }, `${current.me.email ?? current.me.uid} · ${current.clinic.role}`),
      signOutButton(),
    );
    document.body.dataset.role = current.clinic.role;
    document.body.dataset.clinical = String(readsClinicalData(current));
  }
}

boot().catch((error: unknown) => {
  replace(main, h("p", { class: "error", role: "alert" }, `The app could not start: ${String(error)}`));
});
