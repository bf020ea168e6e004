// Collecting files (picker, folder picker, drag and drop of files and whole folders) and submitting them as a job.

import { ApiError, request } from "./api.js";

// API Gateway and Lambda cap a request body near 6 MB; multipart framing (and base64 on the way into Lambda)
// adds to the files' size. Larger selections go through presigned S3 uploads instead.
export const INLINE_UPLOAD_LIMIT = 4 * 1024 * 1024;

/** Hidden files and folders (".DS_Store", ".git/") are left out, as the server-side folder walk does. */
function isHidden(path) {
  return path.split("/").some((part) => part.startsWith("."));
}

export function filesFromInput(input) {
  return [...input.files]
    .map((file) => ({ file, path: file.webkitRelativePath || file.name }))
    .filter((entry) => !isHidden(entry.path));
}

function readEntries(reader) {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

async function walk(entry, prefix, out) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    out.push({ file, path: prefix + entry.name });
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    // readEntries answers in batches (about 100 entries); an empty batch means the folder is done.
    for (let batch = await readEntries(reader); batch.length; batch = await readEntries(reader)) {
      for (const child of batch) await walk(child, `${prefix}${entry.name}/`, out);
    }
  }
}

/** Every file of a drop, folders walked. The entries must be taken before the first await: the browser empties
 * the DataTransfer once the drop handler returns. */
export async function filesFromDrop(dataTransfer) {
  const items = [...(dataTransfer.items || [])].filter((item) => item.kind === "file");
  const entries = items.map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null));
  const plain = [...dataTransfer.files];
  if (!entries.length || entries.some((entry) => !entry)) {
    return plain.map((file) => ({ file, path: file.name })).filter((e) => !isHidden(e.path));
  }
  const out = [];
  for (const entry of entries) await walk(entry, "", out);
  return out.filter((e) => !isHidden(e.path));
}

/** One entry per relative path: a later pick of the same path replaces the earlier one. */
export function mergeSelections(current, added) {
  const byPath = new Map(current.map((e) => [e.path, e]));
  for (const entry of added) byPath.set(entry.path, entry);
  return [...byPath.values()].sort((a, b) => a.path.localeCompare(b.path));
}

function newIdempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Submit `entries` ({file, path}) with `options` (typed values; only what the user set). One idempotency key per
 * submission, so a repeated click or a resent request names the same job. Returns EnqueueJobResponse.
 */
export async function submitJob(entries, options, onStep = () => {}) {
  const headers = { "Idempotency-Key": newIdempotencyKey() };
  const total = entries.reduce((sum, e) => sum + e.file.size, 0);
  if (total <= INLINE_UPLOAD_LIMIT) {
    const form = new FormData();
    for (const [name, value] of Object.entries(options)) form.append(name, String(value));
    for (const entry of entries) form.append("files", entry.file, entry.path);
    onStep(`Uploading ${entries.length} file(s)…`);
    return request("POST", "jobs/process", { body: form, headers });
  }
  onStep(`Requesting upload URLs for ${entries.length} file(s)…`);
  const upload = await request("POST", "uploads", {
    json: {
      files: entries.map((e) => ({
        name: e.path, size_bytes: e.file.size, content_type: e.file.type || "application/octet-stream",
      })),
    },
  });
  const byName = new Map(entries.map((e) => [e.path, e]));
  let done = 0;
  for (const target of upload.files) {
    const entry = byName.get(target.name);
    if (!entry) continue;
    onStep(`Uploading ${target.name} (${done + 1}/${upload.files.length})…`);
    let response;
    try {
      response = await fetch(target.url, { method: target.method || "PUT", headers: target.headers, body: entry.file });
    } catch (err) {
      throw new ApiError(0, `Upload of ${target.name} failed: ${err.message}`, null);
    }
    if (!response.ok) throw new ApiError(response.status, `Upload of ${target.name} failed: HTTP ${response.status}`, null);
    done += 1;
  }
  onStep("Submitting the job…");
  return request("POST", "jobs/process", { json: { upload_id: upload.upload_id, ...options }, headers });
}
