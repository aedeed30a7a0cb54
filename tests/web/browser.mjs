// The clinician web app in Debian's Chromium, driven by playwright-core (no browser download).
//
//   node tests/web/browser.mjs <plan.json>
//
// tests/web/test_web_app.py writes the plan (the web app's URL, accounts, the documents it seeded)
// and asserts the report this script writes to <plan.outDir>/report.json: one entry per step,
// each with what it observed or the error that stopped it, and every console error of every page.
// A step that fails does not stop the next. For the live step this script prints
// "READY live-worklist" and waits for the test to upload a take.
import { chromium } from "playwright-core";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const plan = JSON.parse(readFileSync(process.argv[2], "utf8"));
mkdirSync(plan.outDir, { recursive: true });
const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--autoplay-policy=no-user-gesture-required", "--mute-audio",
];
const report = { steps: {}, consoleErrors: [] };
const browser = await chromium.launch({ executablePath: plan.chromium, args: FLAGS });

async function newPage(name, viewport = { width: 1200, height: 900 }) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  page.on("console", (msg) => {
    if (msg.type() === "error") report.consoleErrors.push({ page: name, text: msg.text(), url: page.url() });
  });
  page.on("pageerror", (error) => report.consoleErrors.push({ page: name, text: String(error), url: page.url() }));
  return page;
}

async function step(name, body) {
  const started = Date.now();
  try {
    report.steps[name] = { ok: true, ...(await body()), ms: Date.now() - started };
  } catch (error) {
    report.steps[name] = { ok: false, error: String(error?.stack ?? error), ms: Date.now() - started };
  }
  writeFileSync(join(plan.outDir, `report-${plan.mode ?? "suite"}.json`), JSON.stringify(report, null, 2));
}

async function shot(page, name) {
  await page.screenshot({ path: join(plan.outDir, `${name}.png`), fullPage: true });
}

async function signIn(page, account) {
  await page.goto(plan.baseUrl);
  await page.getByLabel("Email").fill(account.email);
  await page.getByLabel("Password").fill(account.password);
  const submitted = Date.now();
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForSelector("#recordings tbody tr, #worklist-status:has-text('Nothing')", { timeout: 20000 });
  return Date.now() - submitted;
}

const rows = (page) => page.$$eval("#recordings tbody tr", (trs) => trs.map((tr) => ({ id: tr.dataset.id, status: tr.dataset.status, text: tr.innerText })));

if (plan.mode === "paint") {
  // First meaningful paint of the worklist: the first page of rows on screen.
  await step("paint", async () => {
    const page = await newPage("paint");
    const signInMs = await signIn(page, plan.clinician);
    const reloads = [];
    for (let i = 0; i < plan.repeats; i++) {
      await page.reload();
      await page.waitForSelector("body[data-worklist-painted]", { timeout: 20000 });
      reloads.push(await page.evaluate(() => performance.getEntriesByName("worklist-painted")[0].startTime));
    }
    const pageRows = await rows(page);
    await page.getByRole("button", { name: "Older →" }).click();
    await page.waitForFunction((first) => document.querySelector("#recordings tbody tr")?.dataset.id !== first, pageRows[0].id);
    const second = await rows(page);
    const status = await page.textContent("#worklist-status");
    return { signInMs, reloadsMs: reloads, rows: pageRows.length, secondPageRows: second.length, secondPageFirst: second[0]?.id, firstPageIds: pageRows.map((r) => r.id), status };
  });
  await browser.close();
  process.exit(0);
}

const clinician = await newPage("clinician");

await step("signIn", async () => {
  const ms = await signIn(clinician, plan.clinician);
  await clinician.waitForFunction(() => !document.querySelector("#recordings")?.innerText.includes("pat_"), null, { timeout: 10000 });
  await shot(clinician, "worklist");
  return { ms, rows: await rows(clinician), header: await clinician.textContent("header") };
});

await step("live", async () => {
  await clinician.evaluate(() => {
    window.__noReload = true;
    window.__seen = {};
    const record = () => {
      for (const tr of document.querySelectorAll("#recordings tbody tr")) {
        const seen = (window.__seen[tr.dataset.id] ??= []);
        if (seen[seen.length - 1] !== tr.dataset.status) seen.push(tr.dataset.status);
      }
    };
    record();
    new MutationObserver(record).observe(document.querySelector("main"), { subtree: true, childList: true, attributes: true });
  });
  const before = new Set((await rows(clinician)).map((r) => r.id));
  console.log("READY live-worklist");
  const handle = await clinician.waitForFunction(
    (known) => {
      const fresh = [...document.querySelectorAll("#recordings tbody tr")].find((tr) => !known.includes(tr.dataset.id));
      return fresh && fresh.dataset.status === "analyzed" ? fresh.dataset.id : null;
    },
    [...before],
    { timeout: 60000 },
  );
  const id = await handle.jsonValue();
  const seen = await clinician.evaluate((rid) => window.__seen[rid], id);
  const notReloaded = await clinician.evaluate(() => window.__noReload === true);
  await shot(clinician, "worklist-live");
  return { id, seen, notReloaded, row: (await rows(clinician)).find((r) => r.id === id) };
});

await step("review", async () => {
  const id = report.steps.live?.id ?? plan.heartRecordingId;
  await clinician.click(`#recordings tr[data-id="${id}"] td a`);
  await clinician.waitForSelector("#trace, #review-error", { timeout: 20000 });
  const error = await clinician.$("#review-error");
  if (error) throw new Error(await error.textContent());
  const overlay = await clinician.$eval("#overlay-counts", (el) => ({ ...el.dataset, text: el.textContent }));
  const figures = await clinician.textContent("#figures");
  const painted = await clinician.$eval("#trace", (c) => {
    const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let dark = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] < 100 && data[i + 1] < 100) dark++;
    return dark;
  });
  await shot(clinician, "review-heart");
  return { url: clinician.url(), overlay, figures, darkPixels: painted };
});

await step("play", async () => {
  await clinician.selectOption("#band-filter", "heart");
  await clinician.evaluate(() => document.querySelector("#audio").play());
  await clinician.waitForFunction(() => Number(document.querySelector("#cursor").dataset.time) > 0.5, null, { timeout: 15000 });
  const first = await clinician.$eval("#cursor", (c) => ({ time: Number(c.dataset.time), left: c.style.left }));
  await clinician.waitForTimeout(700);
  const later = await clinician.$eval("#cursor", (c) => ({ time: Number(c.dataset.time), left: c.style.left }));
  const band = await clinician.$eval("#audio", (a) => ({ band: a.dataset.band, paused: a.paused, src: a.currentSrc }));
  await shot(clinician, "review-playing");
  await clinician.evaluate(() => document.querySelector("#audio").pause());
  return { first, later, ...band };
});

await step("download", async () => {
  const [download] = await Promise.all([clinician.waitForEvent("download"), clinician.click("#download-pdf")]);
  const path = join(plan.outDir, download.suggestedFilename());
  await download.saveAs(path);
  const head = readFileSync(path).subarray(0, 5).toString("latin1");
  return { filename: download.suggestedFilename(), path, head };
});

await step("lungReview", async () => {
  await clinician.goto(`${plan.baseUrl}/#/recordings/${plan.lungRecordingId}`);
  await clinician.waitForSelector("#trace, #review-error", { timeout: 20000 });
  const overlay = await clinician.$eval("#overlay-counts", (el) => ({ ...el.dataset, text: el.textContent }));
  await shot(clinician, "review-lung");
  return { overlay, figures: await clinician.textContent("#figures") };
});

await step("unusable", async () => {
  await clinician.goto(`${plan.baseUrl}/#/recordings/${plan.unusableRecordingId}`);
  await clinician.waitForSelector("#unusable, #review-error, #figures", { timeout: 20000 });
  await clinician.waitForSelector("#trace", { timeout: 10000 });
  await shot(clinician, "review-unusable");
  return {
    warning: await clinician.textContent("#unusable"),
    figures: await clinician.$("#figures").then((e) => e !== null),
    overlay: await clinician.$("#overlay-counts").then((e) => e !== null),
  };
});

await step("exam", async () => {
  await clinician.goto(`${plan.baseUrl}/#/exams/${plan.examId}`);
  await clinician.waitForSelector("#exam-sites", { timeout: 20000 });
  await clinician.waitForSelector("#exam-pdf", { timeout: 10000 });
  const [download] = await Promise.all([clinician.waitForEvent("download"), clinician.click("#exam-pdf")]);
  const pdf = join(plan.outDir, download.suggestedFilename());
  await download.saveAs(pdf);
  await shot(clinician, "exam");
  return {
    status: await clinician.textContent("#exam-status"),
    assessment: await clinician.textContent("#assessment"),
    reRecord: await clinician.textContent("#re-record"),
    reportHead: readFileSync(pdf).subarray(0, 5).toString("latin1"),
    sites: await clinician.$$eval("svg.body-diagram .site", (gs) => gs.map((g) => ({ site: g.dataset.site, cls: g.getAttribute("class") }))),
  };
});

await step("patient", async () => {
  await clinician.goto(`${plan.baseUrl}/#/patients/${plan.patientId}`);
  await clinician.waitForSelector("svg.trend", { timeout: 20000 });
  await shot(clinician, "patient");
  return {
    title: await clinician.textContent("main h1"),
    points: await clinician.$$eval("svg.trend circle", (cs) => cs.length),
    exams: await clinician.$$eval("main table tbody tr", (trs) => trs.length),
  };
});

await step("filters", async () => {
  await clinician.goto(`${plan.baseUrl}/#/?status=rejected`);
  await clinician.waitForSelector("#worklist-status:not(:has-text('Loading'))");
  const rejected = await clinician.$$eval("#recordings tbody tr", (trs) => trs.map((tr) => tr.dataset.status));
  await clinician.goto(`${plan.baseUrl}/#/`);
  await clinician.getByLabel("Patient").fill(plan.patientMrn);
  await clinician.getByRole("button", { name: "Find" }).click();
  await clinician.waitForSelector(".chip");
  await clinician.waitForSelector("#recordings tbody tr");
  const patientRows = await rows(clinician);
  const chip = await clinician.textContent(".chip");
  await clinician.goto(`${plan.baseUrl}/#/?tab=exams&kind=heart`);
  await clinician.waitForSelector("#exams tbody tr", { timeout: 10000 });
  const exams = await clinician.$$eval("#exams tbody tr", (trs) => trs.length);
  return { rejected, patientRows: patientRows.length, chip, exams };
});

await step("keyboard", async () => {
  await clinician.goto(`${plan.baseUrl}/#/`);
  await clinician.waitForSelector("#recordings tbody tr");
  const focused = [];
  for (let i = 0; i < 8; i++) {
    await clinician.keyboard.press("Tab");
    focused.push(await clinician.evaluate(() => {
      const el = document.activeElement;
      return `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ""}:${(el.textContent || el.getAttribute("aria-label") || "").trim().slice(0, 30)}`;
    }));
  }
  const unlabeled = await clinician.$$eval("input, select", (els) => els.filter((e) => !e.labels?.length && !e.getAttribute("aria-label")).map((e) => e.outerHTML));
  return { focused, unlabeled };
});

await step("tablet", async () => {
  const tablet = await newPage("tablet", { width: 800, height: 1100 });
  await signIn(tablet, plan.clinician);
  const widths = {};
  for (const [name, hash] of [["worklist", "#/"], ["exam", `#/exams/${plan.examId}`], ["review", `#/recordings/${plan.heartRecordingId}`]]) {
    await tablet.goto(`${plan.baseUrl}/${hash}`);
    await tablet.waitForSelector("#recordings tbody tr, #exam-sites, #trace", { timeout: 20000 });
    widths[name] = await tablet.evaluate(() => document.documentElement.scrollWidth);
    await shot(tablet, `tablet-${name}`);
  }
  return { widths };
});

await step("admin", async () => {
  const admin = await newPage("admin");
  await signIn(admin, plan.admin);
  await admin.getByRole("link", { name: "Admin" }).click();
  await admin.waitForSelector("#members tbody tr");
  await admin.waitForSelector("#audit tbody tr", { timeout: 10000 });
  const members = await admin.$$eval("#members tbody tr", (trs) => trs.map((tr) => ({ uid: tr.dataset.uid, text: tr.innerText })));
  // change the uploader's role to clinician and back (the API does it, audited)
  const select = admin.locator(`#members tr[data-uid="${plan.uploader.uid}"] select`);
  await select.selectOption("clinician");
  // the select is disabled while the change is on its way; the reloaded list shows the server's role
  await admin.waitForFunction(([uid, role]) => {
    const el = document.querySelector(`#members tr[data-uid="${uid}"] select`);
    return el !== null && !el.disabled && el.value === role;
  }, [plan.uploader.uid, "clinician"]);
  await admin.locator(`#members tr[data-uid="${plan.uploader.uid}"] select`).selectOption("uploader");
  await admin.waitForFunction(([uid, role]) => {
    const el = document.querySelector(`#members tr[data-uid="${uid}"] select`);
    return el !== null && !el.disabled && el.value === role;
  }, [plan.uploader.uid, "uploader"]);
  await admin.reload();
  await admin.waitForSelector("#audit tbody tr", { timeout: 10000 });
  const audit = await admin.$$eval("#audit tbody tr", (trs) => trs.map((tr) => tr.innerText));
  // invite a signed-up person who is in no clinic yet
  await admin.getByLabel("Email").fill(plan.newcomer.email);
  await admin.getByLabel("Role", { exact: true }).selectOption("clinician");
  await admin.getByRole("button", { name: "Invite" }).click();
  await admin.waitForSelector(`#invitations li:has-text("${plan.newcomer.email}")`);
  const invited = await admin.textContent("#invitations");
  const notice = await admin.textContent("#invitation-status");
  await shot(admin, "admin");
  return { members, audit: audit.slice(0, 10), invited, notice };
});

await step("invitee", async () => {
  const invitee = await newPage("invitee");
  await invitee.goto(plan.baseUrl);
  await invitee.getByLabel("Email").fill(plan.newcomer.email);
  await invitee.getByLabel("Password").fill(plan.newcomer.password);
  await invitee.getByRole("button", { name: "Sign in" }).click();
  await invitee.waitForSelector("#my-invitations");
  const offered = await invitee.textContent("#my-invitations");
  await shot(invitee, "invitee");
  await invitee.getByRole("button", { name: "Accept" }).click();
  await invitee.waitForSelector("#recordings tbody tr", { timeout: 20000 });
  return { offered, header: await invitee.textContent("header") };
});

await step("uploader", async () => {
  const uploader = await newPage("uploader");
  await signIn(uploader, plan.uploader);
  const worklist = await rows(uploader);
  const links = await uploader.$$eval("#recordings tbody a", (as) => as.map((a) => a.getAttribute("href")));
  await uploader.goto(`${plan.baseUrl}/#/recordings/${plan.heartRecordingId}`);
  await uploader.waitForSelector("#review-denied");
  await uploader.waitForSelector("#recording-status");
  await uploader.waitForTimeout(500);
  await shot(uploader, "uploader-denied");
  return {
    worklist,
    links,
    denied: await uploader.textContent("#review-denied"),
    trace: await uploader.$("#trace").then((e) => e !== null),
    audio: await uploader.$("#audio").then((e) => e !== null),
  };
});

await browser.close();
writeFileSync(join(plan.outDir, `report-${plan.mode ?? "suite"}.json`), JSON.stringify(report, null, 2));
