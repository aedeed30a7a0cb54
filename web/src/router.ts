/** Hash routes (`#/recordings/abc?x=1`): static hosting needs no server routes for them. */
export interface Route {
  name: "worklist" | "patient" | "exam" | "recording" | "admin";
  id?: string;
  params: URLSearchParams;
}

export function parseRoute(hash: string): Route {
  const [path, search = ""] = hash.replace(/^#/, "").split("?", 2);
  const params = new URLSearchParams(search);
  const [first, second] = path.split("/").filter(Boolean).map(decodeURIComponent);
  switch (first) {
    case "patients":
      return { name: "patient", id: second, params };
    case "exams":
      return { name: "exam", id: second, params };
    case "recordings":
      return { name: "recording", id: second, params };
    case "admin":
      return { name: "admin", params };
    default:
      return { name: "worklist", params };
  }
}

export function href(name: Route["name"], id?: string, params?: Record<string, string>): string {
  const base = { worklist: "#/", patient: "#/patients/", exam: "#/exams/", recording: "#/recordings/", admin: "#/admin" }[name];
  const search = params ? new URLSearchParams(params).toString() : "";
  return `${base}${id ? encodeURIComponent(id) : ""}${search ? `?${search}` : ""}`;
}



