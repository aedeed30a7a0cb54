/** Email/password sign-in (the Auth emulator locally), and what a user without a clinic sees. */
import { type Auth, signInWithEmailAndPassword } from "firebase/auth";
import { type Api, ApiError } from "../api";
import { h, replace } from "../dom";
import { dateTime } from "../format";
import type { Me } from "../types/api.gen";

export function renderSignIn(root: HTMLElement, auth: Auth): void {
  const error = h("p", { class: "error", role: "alert", id: "signin-error" });
  const email = h("input", { id: "email", name: "email", type: "email", autocomplete: "username", required: true });
  const password = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form",
    { class: "card signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in"),
    h("label", { for: "email" }, "Email"),
    email,
    h("label", { for: "password" }, "Password"),
    password,
    submit,
    error,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.textContent = "";
    signInWithEmailAndPassword(auth, email.value.trim(), password.value)
      .catch((failure: { code?: string }) => {
        error.textContent =
          failure.code === "auth/invalid-credential" || failure.code === "auth/wrong-password" || failure.code === "auth/user-not-found"
            ? "Wrong email or password."
            : `Sign-in failed (${failure.code ?? "unknown error"}).`;
      })
      .finally(() => {
        submit.disabled = false;
      });
  });
  replace(root, form);
  email.focus();
}

/** Signed in but in no clinic: pending invitations to accept, or who to ask. */
export function renderNoClinic(root: HTMLElement, api: Api, me: Me, onJoined: () => void): void {
  replace(root, h("section", { class: "card" }, h("h1", {}, "No clinic yet"), invitationList(api, me, onJoined) ?? h("p", {}, `${me.email ?? me.uid} is not a member of any clinic. Ask your clinic's administrator to invite you.`)));
}

/** The caller's pending invitations with an Accept button each (null when there are none). */
export function invitationList(api: Api, me: Me, onJoined: () => void): HTMLElement | null {
  const invitations = me.invitations ?? [];
  if (!invitations.length) return null;
  const status = h("p", { role: "status" });
  return h(
    "div",
    { class: "invitations", id: "my-invitations" },
    h("p", {}, "You have been invited to:"),
    h(
      "ul",
      {},
      invitations.map((inv) =>
        h(
          "li",
          {},
          `${inv.clinicName ?? inv.clinicId} as ${inv.role} (until ${dateTime(inv.expiresAt)}) `,
          h(
            "button",
            {
              type: "button",
              onclick: () => {
                api
                  .post(`/v1/invitations/${encodeURIComponent(inv.id)}/accept`)
                  .then(onJoined)
                  .catch((e: unknown) => (status.textContent = e instanceof ApiError ? e.message : String(e)));
              },
            },
            "Accept",
          ),
        ),
      ),
    ),
    status,
  );
}
