/** The API client: Bearer ID tokens, JSON in and out, problem+json errors as `ApiError`. */
import type { Auth } from "firebase/auth";
import type { Problem } from "./types/api.gen";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class Api {
  constructor(
    private readonly base: string,
    private readonly auth: Auth,
  ) {}

  /** Absolute URL of an API path such as `/v1/me` or a media link the API returned. */
  url(path: string): string {
    return `${this.base}${path}`;
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const user = this.auth.currentUser;
    const headers: Record<string, string> = {};
    if (user) headers.Authorization = `Bearer ${await user.getIdToken()}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(this.url(path), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) {
      let problem: Partial<Problem> = {};
      try {
        problem = (await response.json()) as Problem;
      } catch {
        // not problem+json (a proxy's error page): keep the status line
      }
      throw new ApiError(
        response.status,
        problem.code ?? "http_error",
        problem.detail ?? problem.title ?? `${response.status} ${response.statusText}`,
      );
    }
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>("GET", path);
  }
  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>("POST", path, body ?? {});
  }
  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>("PUT", path, body);
  }
  delete(path: string): Promise<void> {
    return this.request<void>("DELETE", path);
  }
}

/** `?a=1&b=2` from the defined values only. */
export function query(params: Record<string, string | number | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
