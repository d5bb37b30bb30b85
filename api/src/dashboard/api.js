import { useCallback, useEffect, useState } from "preact/hooks";

/**
 * The public API, same origin, with the key the user signed in with. Every failure becomes an
 * ApiError whose kind the page explains: a refused key, a server that does not answer, a server
 * error, or a request the API refused (its message names the field).
 */
export class ApiError extends Error {
  constructor(kind, message, status = 0, requestId = undefined) {
    super(message);
    this.kind = kind;
    this.status = status;
    this.requestId = requestId;
  }
}

async function failure(response) {
  let body;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  const error = body?.error;
  const requestId = error?.request_id;
  if (response.status === 401) {
    return new ApiError(
      "unauthorized",
      "The API refused this key: it was revoked or is not a valid key. Sign in with a valid key.",
      401,
      requestId,
    );
  }
  if (response.status >= 500) {
    const what = error?.message ? `: ${error.message}` : "";
    return new ApiError(
      "server",
      `The server could not answer (status ${response.status}${what}). Try again in a moment.`,
      response.status,
      requestId,
    );
  }
  const details = Array.isArray(error?.details)
    ? error.details.map((d) => `${d.field}: ${d.message}`).join("; ")
    : "";
  const message = `${error?.message ?? `The request was refused (status ${response.status})`}${details ? ` (${details})` : ""}`;
  return new ApiError(response.status === 404 ? "not_found" : "refused", message, response.status, requestId);
}

export function createClient(key, onUnauthorized) {
  async function request(method, path, params, body) {
    const query = params
      ? `?${new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== ""))}`
      : "";
    let response;
    try {
      response = await fetch(`${path}${query}`, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          ...(body ? { "content-type": "application/json" } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
      });
    } catch {
      throw new ApiError("offline", "The server did not answer: it may be down or out of reach. Try again.");
    }
    if (!response.ok) {
      const error = await failure(response);
      if (error.kind === "unauthorized") onUnauthorized?.(error);
      throw error;
    }
    return response.json();
  }
  return {
    get: (path, params) => request("GET", path, params),
    post: (path, body) => request("POST", path, undefined, body),
  };
}

/** One report: loaded again whenever its path or parameters change; `reload` asks once more. */
export function useReport(client, path, params) {
  const [state, setState] = useState({ loading: true });
  const [attempt, setAttempt] = useState(0);
  const key = `${path}?${JSON.stringify(params)}#${attempt}`;
  useEffect(() => {
    let current = true;
    setState({ loading: true });
    client.get(path, params).then(
      (data) => current && setState({ data, loading: false }),
      (error) => current && setState({ error, loading: false }),
    );
    return () => {
      current = false;
    };
  }, [client, key]);
  const reload = useCallback(() => setAttempt((n) => n + 1), []);
  return { ...state, reload };
}
