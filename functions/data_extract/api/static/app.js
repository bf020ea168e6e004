// The operator page: sign in, submit files, watch jobs live, act on them, browse sessions and presets.

import { api, ApiError, artifactUrl, onUnauthorized } from "./api.js";
import { $, badge, formatBytes, formatTime, h, replaceChildren, say } from "./dom.js";
import { filesFromDrop, filesFromInput, INLINE_UPLOAD_LIMIT, mergeSelections, submitJob } from "./upload.js";

const TERMINAL = new Set(["completed", "partial", "failed", "cancelled"]);
const JOB_POLL_MS = 1500;
const LIST_POLL_MS = 4000;
const HEALTH_POLL_MS = 15000;
const REPORT_PATH = "semantic/semantic_report.html";

const state = {
  selection: [],
  jobId: null,
  job: null,
  artifactsFor: null,
  tab: "jobs",
  timers: [],
  jobTimer: null,
  signedIn: false,
};

// ---------------------------------------------------------------- auth

function showSignIn(message = "") {
  state.signedIn = false;
  stopPolling();
  $("app").hidden = true;
  $("tabs").hidden = true;
  $("sign-out").hidden = true;
  $("session-info").textContent = "";
  $("sign-in").hidden = false;
  say($("sign-in-error"), message, Boolean(message));
  $("api-key").focus();
}

function showApp(session) {
  state.signedIn = true;
  $("sign-in").hidden = true;
  $("app").hidden = false;
  $("tabs").hidden = false;
  $("sign-out").hidden = !session.api_key_configured;
  $("session-info").textContent = session.expires_at
    ? `signed in until ${new Date(session.expires_at).toLocaleTimeString()}`
    : session.api_key_configured ? "signed in with an API key" : "authentication is off";
  startPolling();
  loadPresetsIntoForm();
  showTab(state.tab);
}

async function signIn(event) {
  event.preventDefault();
  const key = $("api-key").value;
  $("sign-in-button").disabled = true;
  try {
    const session = await api.signIn(key);
    $("api-key").value = "";
    showApp(session);
  } catch (err) {
    showSignIn(err.status === 401 ? "That API key was not accepted." : err.message);
  } finally {
    $("sign-in-button").disabled = false;
  }
}

async function signOut() {
  try {
    await api.signOut();
  } finally {
    showSignIn("Signed out.");
    $("sign-in-error").classList.remove("error");
  }
}

onUnauthorized(() => {
  if (state.signedIn) showSignIn("Your session ended; sign in again.");
});

// ---------------------------------------------------------------- polling

function every(ms, fn) {
  fn();
  state.timers.push(setInterval(() => {
    if (!document.hidden) fn();
  }, ms));
}

function startPolling() {
  stopPolling();
  every(HEALTH_POLL_MS, refreshHealth);
  every(LIST_POLL_MS, () => {
    if (state.tab === "jobs") refreshJobs();
    if (state.tab === "sessions") refreshSessions();
  });
}

function stopPolling() {
  state.timers.forEach(clearInterval);
  state.timers = [];
  clearTimeout(state.jobTimer);
  state.jobTimer = null;
}

async function refreshHealth() {
  const el = $("health");
  try {
    const health = await api.health();
    const problems = health.problems?.length ? `: ${health.problems.join(", ")}` : "";
    el.textContent = `${health.status}${problems}`;
    el.className = `health health-${health.status}`;
  } catch (err) {
    el.textContent = err.status === 401 ? "health: sign in to see" : `unreachable: ${err.message}`;
    el.className = "health health-error";
  }
}

// ---------------------------------------------------------------- tabs

function showTab(name) {
  state.tab = name;
  for (const tab of ["jobs", "sessions", "presets"]) {
    $(`tab-${tab}`).setAttribute("aria-selected", String(tab === name));
    $(`panel-${tab}`).hidden = tab !== name;
  }
  if (name === "jobs") refreshJobs();
  if (name === "sessions") refreshSessions();
  if (name === "presets") refreshPresets();
}

// ---------------------------------------------------------------- new job

function renderSelection() {
  const total = state.selection.reduce((sum, e) => sum + e.file.size, 0);
  const route = total > INLINE_UPLOAD_LIMIT ? " · sent through presigned uploads" : "";
  $("selection-summary").textContent = state.selection.length
    ? `${state.selection.length} file(s), ${formatBytes(total)}${route}`
    : "No files selected.";
  replaceChildren($("selected-files"), state.selection.map((entry) => h("li", {},
    h("span", { class: "path" }, entry.path),
    h("span", { class: "muted" }, formatBytes(entry.file.size)),
    h("button", {
      type: "button", class: "link", "aria-label": `remove ${entry.path}`,
      onclick: () => {
        state.selection = state.selection.filter((e) => e !== entry);
        renderSelection();
      },
    }, "remove"),
  )));
  $("submit-job").disabled = state.selection.length === 0;
  $("clear-files").disabled = state.selection.length === 0;
}

function addToSelection(entries) {
  state.selection = mergeSelections(state.selection, entries);
  renderSelection();
}

/** Only what the user chose: anything left alone comes from the preset (explicit fields override it). */
function chosenOptions() {
  const options = {};
  if ($("preset").value) options.preset = $("preset").value;
  if ($("output-format").value) options.output_format = $("output-format").value;
  if ($("chunk-size").value) options.chunk_size = Number($("chunk-size").value);
  if ($("include-semantic").checked) {
    // The page shows the analysis as its HTML report, so it asks for that one.
    Object.assign(options, { include_semantic: true, semantic_report: true, semantic_report_format: "html" });
  }
  if (!$("include-evaluation").checked) options.include_evaluation = false;
  if (!$("ocr").checked) options.ocr = false;
  if (!$("continue-on-error").checked) options.continue_on_error = false;
  return options;
}

async function onSubmit(event) {
  event.preventDefault();
  if (!state.selection.length) return;
  const message = $("submit-message");
  $("submit-job").disabled = true;
  try {
    const result = await submitJob(state.selection, chosenOptions(), (step) => say(message, step));
    say(message, `Job ${result.job_id} ${result.status}.`);
    state.selection = [];
    $("file-input").value = "";
    $("folder-input").value = "";
    renderSelection();
    await refreshJobs();
    selectJob(result.job_id);
  } catch (err) {
    say(message, `Not submitted: ${err.message}`, true);
    $("submit-job").disabled = false;
  }
}

async function loadPresetsIntoForm() {
  try {
    const [presets, current] = await Promise.all([api.presets(), api.currentPreset()]);
    const select = $("preset");
    const chosen = select.value;
    replaceChildren(select, [
      h("option", { value: "" }, current.preset ? `default (${current.preset})` : "default"),
      ...presets.map((p) => h("option", { value: p.name }, p.name)),
    ]);
    select.value = chosen;
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) say($("submit-message"), err.message, true);
  }
}

// ---------------------------------------------------------------- jobs list

async function refreshJobs() {
  let jobs;
  try {
    jobs = await api.jobs();
  } catch (err) {
    if (err.status !== 401) say($("submit-message"), `Jobs could not be listed: ${err.message}`, true);
    return;
  }
  $("jobs-empty").hidden = jobs.length > 0;
  replaceChildren($("jobs-table").tBodies[0], jobs.map((job) => h("tr", {
    class: job.job_id === state.jobId ? "selected" : "",
    dataset: { jobId: job.job_id },
    tabindex: 0,
    onclick: () => selectJob(job.job_id),
    onkeydown: (e) => { if (e.key === "Enter") selectJob(job.job_id); },
  },
  h("td", { class: "mono" }, job.job_id),
  h("td", {}, badge(job.status)),
  h("td", {}, formatTime(job.created_at)),
  h("td", { class: "path" }, job.input_path))));
}

// ---------------------------------------------------------------- job detail

function selectJob(jobId) {
  state.jobId = jobId;
  state.job = null;
  state.artifactsFor = null;
  $("job-detail").hidden = false;
  say($("job-message"), "");
  for (const row of $("jobs-table").tBodies[0].rows) row.classList.toggle("selected", row.dataset.jobId === jobId);
  refreshJob();
}

async function refreshJob() {
  clearTimeout(state.jobTimer);
  const jobId = state.jobId;
  if (!jobId) return;
  let job;
  try {
    job = await api.job(jobId);
  } catch (err) {
    if (err.status !== 401) say($("job-message"), err.message, true);
    return;
  }
  if (jobId !== state.jobId) return;
  const statusChanged = state.job?.status !== job.status;
  state.job = job;
  if (statusChanged) {
    refreshJobs();
    refreshHealth();
  }
  renderJob(job);
  const terminal = TERMINAL.has(job.status);
  const artifactsKey = `${job.status}:${job.updated_at}`;
  if (terminal && state.artifactsFor !== artifactsKey) {
    state.artifactsFor = artifactsKey;
    refreshArtifacts(jobId);
  } else if (!terminal) {
    renderArtifacts([]);
    $("artifacts-empty").textContent = "Artifacts appear when the job ends.";
  }
  if (!terminal && state.signedIn) state.jobTimer = setTimeout(refreshJob, JOB_POLL_MS);
}

function renderJob(job) {
  $("job-title").textContent = `Job ${job.job_id}`;
  replaceChildren($("job-status"), [badge(job.status)]);
  const p = job.progress;
  const pct = (n) => (p.total ? `${(100 * n) / p.total}%` : "0%");
  const bars = $("job-progress").children;
  bars[0].style.width = pct(p.processed);
  bars[1].style.width = pct(p.skipped);
  bars[2].style.width = pct(p.failed);
  $("job-progress").setAttribute("aria-label",
    `${p.processed} processed, ${p.failed} failed, ${p.skipped} skipped, ${p.pending} pending of ${p.total}`);
  replaceChildren($("job-counts"), [
    h("span", { class: "count processed" }, `${p.processed} processed`),
    h("span", { class: "count failed" }, `${p.failed} failed`),
    h("span", { class: "count skipped" }, `${p.skipped} skipped`),
    h("span", { class: "count pending" }, `${p.pending} pending`),
    h("span", { class: "count" }, `${p.total} total`),
  ]);
  const facts = [
    ["input", job.input_path],
    ["preset", job.preset || "none"],
    ["output", `${job.effective_format}, chunks of ${job.effective_chunk_size} (overlap ${job.effective_chunk_overlap})`],
    ["created", formatTime(job.created_at)],
    ["started", formatTime(job.started_at)],
    ["finished", formatTime(job.finished_at)],
    ["session", job.session_id || ""],
  ];
  replaceChildren($("job-facts"), facts.filter(([, v]) => v).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));

  replaceChildren($("files-table").tBodies[0], job.files.map((file) => h("tr", { dataset: { status: file.status } },
    h("td", { class: "path" }, file.source_path),
    h("td", {}, badge(file.status)),
    h("td", {}, file.detected_format || ""),
    h("td", { class: "num" }, file.chunk_count),
    h("td", { class: "num" }, file.retry_count),
    h("td", { class: "error-cell" },
      file.error_type ? h("code", { class: "error-type" }, file.error_type) : "",
      file.error_message ? h("span", { class: "error-message" }, ` ${file.error_message}`) : ""))));

  replaceChildren($("events"), job.events.map((e) => h("li", {},
    h("time", {}, formatTime(e.event_time)), " ", h("code", {}, e.event_type), " ", e.message)));

  const terminal = TERMINAL.has(job.status);
  const cleaned = job.events.some((e) => e.event_type === "cleanup");
  // What the server would requeue: failed files, and files halted by an earlier failure; nothing once cleaned.
  const retryable = job.files.some((f) => f.status === "failed" || (f.status === "skipped" && f.error_type === "halted"));
  $("retry-job").hidden = !(terminal && retryable && !cleaned);
  $("cancel-job").hidden = terminal;
  $("cleanup-job").hidden = !terminal || cleaned;
}

async function refreshArtifacts(jobId) {
  try {
    const listing = await api.artifacts(jobId);
    if (jobId === state.jobId) renderArtifacts(listing.artifacts);
  } catch (err) {
    if (err.status !== 401) say($("job-message"), `Artifacts could not be listed: ${err.message}`, true);
  }
}

function renderArtifacts(artifacts) {
  const jobId = state.jobId;
  $("artifacts-empty").hidden = artifacts.length > 0;
  $("artifacts-empty").textContent = "No artifacts.";
  replaceChildren($("artifacts"), artifacts.map((a) => h("li", {},
    h("a", { href: artifactUrl(jobId, a.path), download: a.path.split("/").pop() }, a.path),
    h("span", { class: "muted" }, ` ${formatBytes(a.size_bytes)} · ${formatTime(a.modified_at)}`))));
  const report = artifacts.find((a) => a.path === REPORT_PATH);
  $("report-line").hidden = !report;
}

async function act(button, action, done) {
  const message = $("job-message");
  button.disabled = true;
  try {
    const result = await action(state.jobId);
    say(message, done(result));
  } catch (err) {
    say(message, err.message, true);
  } finally {
    button.disabled = false;
  }
  state.artifactsFor = null;
  await refreshJob();
  refreshJobs();
}

let cleanupArmed = null;

function onCleanup() {
  const button = $("cleanup-job");
  if (!cleanupArmed) {
    // Deleting artifacts cannot be undone: the first click asks, a second one within a few seconds deletes.
    button.textContent = "Click again to delete every artifact";
    cleanupArmed = setTimeout(() => {
      cleanupArmed = null;
      button.textContent = "Clean up artifacts";
    }, 5000);
    return;
  }
  clearTimeout(cleanupArmed);
  cleanupArmed = null;
  button.textContent = "Clean up artifacts";
  act(button, api.cleanup, (r) => `Removed ${r.removed_count} artifact(s).`);
}

async function openReport() {
  const url = artifactUrl(state.jobId, REPORT_PATH);
  const message = $("job-message");
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin" });
  } catch (err) {
    say(message, `The report could not be loaded: ${err.message}`, true);
    return;
  }
  if (!response.ok) {
    say(message, `The report could not be loaded: HTTP ${response.status}`, true);
    return;
  }
  $("report-frame").srcdoc = await response.text();
  $("report-download").href = url;
  $("report-dialog").showModal();
}

// ---------------------------------------------------------------- sessions

async function refreshSessions() {
  let sessions;
  try {
    sessions = await api.sessions();
  } catch (err) {
    return;
  }
  $("sessions-empty").hidden = sessions.length > 0;
  replaceChildren($("sessions-table").tBodies[0], sessions.map((s) => h("tr", {
    tabindex: 0,
    onclick: () => showSession(s.session_id),
    onkeydown: (e) => { if (e.key === "Enter") showSession(s.session_id); },
  },
  h("td", { class: "mono" }, s.session_id),
  h("td", { class: "mono" }, s.job_id),
  h("td", { class: "num" }, s.run),
  h("td", {}, badge(s.status)),
  h("td", { class: "num" }, s.total_files),
  h("td", { class: "num" }, s.processed_count),
  h("td", { class: "num" }, s.failed_count),
  h("td", { class: "num" }, s.skipped_count),
  h("td", {}, formatTime(s.updated_at)))));
}

async function showSession(sessionId) {
  let s;
  try {
    s = await api.sessionDetail(sessionId);
  } catch (err) {
    return;
  }
  $("session-detail").hidden = false;
  $("session-title").textContent = `Session ${s.session_id}`;
  const facts = [["job", s.job_id], ["run", s.run], ["status", s.status], ["source", s.source_directory],
    ["started", formatTime(s.started_at)], ["updated", formatTime(s.updated_at)],
    ...Object.entries(s.statistics || {})];
  replaceChildren($("session-facts"), facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v ?? ""))]));
  replaceChildren($("session-failed"), s.failed_files.length
    ? s.failed_files.map((f) => h("li", {}, h("span", { class: "path" }, f.source_path || f.path || ""), " ",
      h("code", { class: "error-type" }, f.error_type || ""), " ", f.error_message || f.error || ""))
    : [h("li", { class: "muted" }, "none")]);
  $("session-config").textContent = JSON.stringify(s.configuration, null, 2);
}

// ---------------------------------------------------------------- presets

async function refreshPresets() {
  let presets;
  let current;
  try {
    [presets, current] = await Promise.all([api.presets(), api.currentPreset()]);
  } catch (err) {
    if (err.status !== 401) say($("preset-message"), err.message, true);
    return;
  }
  $("current-preset").textContent = current.preset
    ? `jobs that name no preset use ${current.preset}` : "no default preset applied";
  replaceChildren($("presets-table").tBodies[0], presets.map((p) => h("tr", { dataset: { preset: p.name } },
    h("td", { class: "mono" }, p.name, p.name === current.preset ? h("span", { class: "badge" }, "default") : ""),
    h("td", {}, p.category),
    h("td", {}, p.description || ""),
    h("td", { class: "actions" },
      h("button", { type: "button", class: "secondary small", onclick: () => previewPreset(p.name) }, "Preview"),
      h("button", {
        type: "button", class: "secondary small", disabled: p.name === current.preset,
        onclick: () => applyPreset(p.name),
      }, "Make default")))));
}

async function previewPreset(name) {
  try {
    const preview = await api.previewPreset(name);
    $("preset-preview").hidden = false;
    $("preset-preview-title").textContent = `Preview: ${preview.preset}`;
    $("preset-config").textContent = JSON.stringify(preview.effective_config, null, 2);
  } catch (err) {
    say($("preset-message"), err.message, true);
  }
}

async function applyPreset(name) {
  try {
    await api.applyPreset(name);
    say($("preset-message"), `${name} is now the default preset.`);
  } catch (err) {
    say($("preset-message"), err.message, true);
  }
  refreshPresets();
  loadPresetsIntoForm();
}

// ---------------------------------------------------------------- wiring

function wire() {
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  for (const tab of ["jobs", "sessions", "presets"]) $(`tab-${tab}`).addEventListener("click", () => showTab(tab));

  const zone = $("dropzone");
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", async (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    try {
      addToSelection(await filesFromDrop(e.dataTransfer));
    } catch (err) {
      say($("submit-message"), `The dropped files could not be read: ${err.message}`, true);
    }
  });
  // A file dropped beside the zone must not navigate away from the page.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
  $("file-input").addEventListener("change", (e) => addToSelection(filesFromInput(e.target)));
  $("folder-input").addEventListener("change", (e) => addToSelection(filesFromInput(e.target)));
  $("clear-files").addEventListener("click", () => {
    state.selection = [];
    renderSelection();
  });
  $("submit-form").addEventListener("submit", onSubmit);
  $("refresh-jobs").addEventListener("click", refreshJobs);

  $("retry-job").addEventListener("click", (e) => act(e.currentTarget, api.retry,
    (r) => `Failed files requeued; job ${r.status}.`));
  $("cancel-job").addEventListener("click", (e) => act(e.currentTarget, api.cancel,
    (r) => `Cancellation requested; job ${r.status}.`));
  $("cleanup-job").addEventListener("click", onCleanup);
  $("open-report").addEventListener("click", openReport);
  $("close-report").addEventListener("click", () => $("report-dialog").close());
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && state.job && !TERMINAL.has(state.job.status)) refreshJob();
  });
}

async function start() {
  wire();
  renderSelection();
  try {
    const session = await api.session();
    if (session.authenticated) showApp(session);
    else showSignIn();
  } catch (err) {
    showSignIn(err.message);
  }
}

start();
