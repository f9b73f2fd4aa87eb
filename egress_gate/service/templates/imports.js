// The import airlock's resumable upload: create the import, then for each file open an upload and
// PUT chunks at offsets; a failed chunk is retried from the offset the server reports. The upload
// token of each file is kept in sessionStorage (by import, name and size), so choosing the same file
// again after the connection dropped resumes it instead of starting over.
"use strict";
(function () {
  const form = document.getElementById("import-form");
  if (!form) return;
  const prefix = form.dataset.prefix, xsrf = form.dataset.xsrf;
  const CHUNK = 8 * 1024 * 1024, TRIES = 8;
  const progress = document.getElementById("import-progress");

  async function call(method, path, body, raw) {
    const headers = {"X-XSRFToken": xsrf};
    if (!raw && body !== undefined) headers["Content-Type"] = "application/json";
    const answer = await fetch(prefix + "api/" + path, {method, headers, credentials: "same-origin",
      body: raw ? body : (body === undefined ? undefined : JSON.stringify(body))});
    const data = await answer.json().catch(() => ({}));
    if (!answer.ok) throw Object.assign(new Error(data.error || answer.statusText), {status: answer.status});
    return data;
  }

  async function send(id, file) {
    const key = `enclave-import:${id}:${file.name}:${file.size}`;
    let token = sessionStorage.getItem(key), offset = 0;
    if (token) {
      try { offset = (await call("GET", `imports/${id}/uploads/${token}`)).offset; } catch (e) { token = null; }
    }
    if (!token) {
      token = (await call("POST", `imports/${id}/uploads`, {name: file.name, size: file.size})).token;
      sessionStorage.setItem(key, token);
    }
    let tries = 0;
    while (offset < file.size) {
      try {
        const chunk = file.slice(offset, Math.min(offset + CHUNK, file.size));
        offset = (await call("PUT", `imports/${id}/uploads/${token}?offset=${offset}`, chunk, true)).offset;
        tries = 0;
        progress.textContent = `${file.name}: ${Math.floor(100 * offset / Math.max(file.size, 1))}%`;
      } catch (e) {
        if (e.status && e.status < 500) throw e;
        if (++tries > TRIES) throw new Error(`${file.name}: the connection keeps dropping; press Upload again to resume`);
        await new Promise(r => setTimeout(r, 500 * tries));
        offset = (await call("GET", `imports/${id}/uploads/${token}`)).offset;  // where to resume
      }
    }
    const done = await call("POST", `imports/${id}/uploads/${token}/complete`);
    sessionStorage.removeItem(key);
    return done;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const files = Array.from(document.getElementById("import-files").files);
    try {
      let id = sessionStorage.getItem("enclave-import:draft");
      if (!id) {
        id = (await call("POST", "imports", {project: document.getElementById("import-project").value,
                                             purpose: document.getElementById("import-purpose").value})).id;
        sessionStorage.setItem("enclave-import:draft", id);
      }
      for (const file of files) await send(id, file);
      const submitted = await call("POST", `imports/${id}/submit`);
      sessionStorage.removeItem("enclave-import:draft");
      progress.textContent = `import ${submitted.id} ${submitted.state}: being scanned`;
      progress.dataset.importId = submitted.id;
    } catch (e) {
      progress.textContent = "error: " + e.message;
    }
  });
})();
