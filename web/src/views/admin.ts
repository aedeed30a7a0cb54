/** Admin: the clinic's members (change role, remove), invitations (invite by email, revoke) and
 * the audit trail, all through the API, which checks the caller is an admin and audits it. */
import { ApiError, query as qs } from "../api";
import { append, h, replace } from "../dom";
import { dateTime } from "../format";
import type { Route } from "../router";
import { type Cleanup, type Session, clinicPath } from "../session";
import type { AuditPage, InvitationOut, MemberOut, NewInvitation } from "../types/api.gen";

const ROLES = ["admin", "clinician", "uploader"] as const;

function message(e: unknown): string {
  return e instanceof ApiError ? `${e.message} (${e.code})` : String(e);
}

export function renderAdmin(session: Session, root: HTMLElement, route: Route): Cleanup {
  if (session.clinic.role !== "admin") {
    replace(root, h("p", { class: "error", role: "alert" }, "Only the clinic's admins manage members and read the audit trail."));
    return;
  }
  const members = h("section", { class: "card", "aria-labelledby": "members-title" });
  const invitations = h("section", { class: "card", "aria-labelledby": "invitations-title" });
  const audit = h("section", { class: "card", "aria-labelledby": "audit-title" });
  replace(root, h("h1", {}, "Admin"), members, invitations, audit);
  const names = new Map<string, string>();
  const audited = loadMembers(session, members, names);
  void loadInvitations(session, invitations);
  void audited.then(() => loadAudit(session, audit, names, route.params.get("auditUid") ?? "", route.params.get("auditPatient") ?? ""));
}

/** The members table; fills `names` (uid → email) for the audit trail. */
async function loadMembers(session: Session, section: HTMLElement, names = new Map<string, string>()): Promise<void> {
  const status = h("p", { role: "status", class: "muted" });
  replace(section, h("h2", { id: "members-title" }, "Members"), status);
  let list: MemberOut[];
  try {
    list = await session.api.get<MemberOut[]>(clinicPath(session, "/members"));
  } catch (e) {
    status.textContent = message(e);
    return;
  }
  for (const m of list) if (m.email) names.set(m.uid, m.email);
  const reload = (): void => void loadMembers(session, section, names);
  section.appendChild(
    h(
      "table",
      { class: "worklist", id: "members" },
      h("thead", {}, h("tr", {}, ["Member", "Role", "Added", ""].map((c) => h("th", { scope: "col" }, c)))),
      h(
        "tbody",
        {},
        list.map((m) => {
          const self = m.uid === session.me.uid;
          const label = `Role of ${m.email ?? m.uid}`;
          const select = h(
            "select",
            { "aria-label": label, disabled: self },
            ROLES.map((r) => h("option", { value: r, selected: r === m.role }, r)),
          );
          select.addEventListener("change", () => {
            // one change at a time: a second choice made while the first is on its way could
            // otherwise reach the server first and be overwritten by the older one
            select.disabled = true;
            session.api
              .put(clinicPath(session, `/members/${encodeURIComponent(m.uid)}`), { role: select.value, email: m.email })
              .then(reload)
              .catch((e: unknown) => {
                status.textContent = message(e);
                select.disabled = false;
              });
          });
          return h(
            "tr",
            { "data-uid": m.uid },
            h("td", {}, m.email ?? m.uid, self ? " (you)" : ""),
            h("td", {}, select),
            h("td", {}, dateTime(m.addedAt ?? null)),
            h(
              "td",
              {},
              self
                ? ""
                : h(
                    "button",
                    {
                      type: "button",
                      class: "danger",
                      onclick: () => {
                        if (!confirm(`Remove ${m.email ?? m.uid} from the clinic?`)) return;
                        session.api
                          .delete(clinicPath(session, `/members/${encodeURIComponent(m.uid)}`))
                          .then(reload)
                          .catch((e: unknown) => (status.textContent = message(e)));
                      },
                    },
                    "Remove",
                  ),
            ),
          );
        }),
      ),
    ),
  );
}

async function loadInvitations(session: Session, section: HTMLElement, created?: NewInvitation): Promise<void> {
  const status = h("p", { role: "status", class: "muted", id: "invitation-status" });
  if (created)
    append(
      status,
      [`Invited ${created.email} as ${created.role}. Tell them to sign in to this app with that address`,
      created.signInLink
        ? [". They have no account yet: give them this link privately to set a password: ", h("a", { href: created.signInLink, id: "sign-in-link" }, "password link")]
        : ".",
      ],
    );
  const email = h("input", { id: "invite-email", type: "email", required: true, autocomplete: "off" });
  const role = h("select", { id: "invite-role" }, ROLES.map((r) => h("option", { value: r, selected: r === "clinician" }, r)));
  const form = h(
    "form",
    { class: "inline-form" },
    h("label", { for: "invite-email" }, "Email"),
    email,
    h("label", { for: "invite-role" }, "Role"),
    role,
    h("button", { type: "submit" }, "Invite"),
  );
  const list = h("ul", { class: "plain", id: "invitations" });
  replace(section, h("h2", { id: "invitations-title" }, "Invitations"), form, status, list);
  const reload = (made?: NewInvitation): void => void loadInvitations(session, section, made);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    session.api
      .post<NewInvitation>(clinicPath(session, "/invitations"), { email: email.value.trim(), role: role.value })
      .then((made) => reload(made))
      .catch((e: unknown) => (status.textContent = message(e)));
  });
  try {
    const items = await session.api.get<InvitationOut[]>(clinicPath(session, "/invitations"));
    replace(
      list,
      items.length
        ? items.map((inv) =>
            h(
              "li",
              { "data-id": inv.id },
              `${inv.email} · ${inv.role} · ${inv.status} · expires ${dateTime(inv.expiresAt)} `,
              inv.status === "pending"
                ? h(
                    "button",
                    {
                      type: "button",
                      class: "danger",
                      onclick: () =>
                        session.api
                          .delete(clinicPath(session, `/invitations/${encodeURIComponent(inv.id)}`))
                          .then(() => reload())
                          .catch((e: unknown) => (status.textContent = message(e))),
                    },
                    "Revoke",
                  )
                : "",
            ),
          )
        : h("li", { class: "muted" }, "No invitations."),
    );
  } catch (e) {
    status.textContent = message(e);
  }
}

async function loadAudit(session: Session, section: HTMLElement, names: Map<string, string>, uid: string, patientId: string, pageToken = ""): Promise<void> {
  const status = h("p", { role: "status", class: "muted" }, "Loading…");
  const uidInput = h("input", { id: "audit-uid", value: uid, autocomplete: "off" });
  const patientInput = h("input", { id: "audit-patient", value: patientId, autocomplete: "off" });
  const form = h(
    "form",
    { class: "inline-form", role: "search" },
    h("label", { for: "audit-uid" }, "User id"),
    uidInput,
    h("label", { for: "audit-patient" }, "Patient id"),
    patientInput,
    h("button", { type: "submit" }, "Filter"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void loadAudit(session, section, names, uidInput.value.trim(), patientInput.value.trim());
  });
  replace(section, h("h2", { id: "audit-title" }, "Audit trail"), form, status);
  try {
    const page = await session.api.get<AuditPage>(clinicPath(session, `/audit${qs({ uid, patientId, pageToken, limit: 50 })}`));
    status.textContent = page.items.length ? `${page.items.length} entries, newest first` : "No entries.";
    section.appendChild(
      h(
        "table",
        { class: "worklist", id: "audit" },
        h("thead", {}, h("tr", {}, ["When", "Who", "Action", "Target", "Outcome"].map((c) => h("th", { scope: "col" }, c)))),
        h(
          "tbody",
          {},
          page.items.map((e) =>
            h("tr", {}, h("td", {}, dateTime(e.at)), h("td", { title: e.uid }, `${names.get(e.uid) ?? e.uid} (${e.role})`), h("td", {}, e.action), h("td", {}, e.target), h("td", {}, e.outcome ?? "ok")),
          ),
        ),
      ),
    );
    if (page.nextPageToken) {
      const token = page.nextPageToken;
      section.appendChild(h("button", { type: "button", onclick: () => void loadAudit(session, section, names, uid, patientId, token) }, "Older entries →"));
    }
  } catch (e) {
    status.textContent = message(e);
  }
}
