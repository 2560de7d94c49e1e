/// The page at `GET /`: choose or take a photo, see its most likely labels as bars and its nearest images.
///
/// Self-contained (inline CSS and script, nothing fetched but the API on the same origin), usable at phone width.
/// Every label and path from the answer is put in the page as text (`textContent`), never as HTML.
enum RecognitionPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>FruitFeatures: what fruit is this?</title>
<style>
  :root { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2327; background: #f6f7f7; }
  body { margin: 0 auto; max-width: 40rem; padding: 1rem; }
  h1 { font-size: 1.4rem; margin: 0 0 .75rem; }
  label.pick { display: block; padding: 1rem; border: 2px dashed #8c8f94; border-radius: .75rem; text-align: center;
               background: #fff; cursor: pointer; font-size: 1.1rem; }
  label.pick input { display: block; margin: .75rem auto 0; max-width: 100%; }
  #preview { display: none; max-width: 100%; max-height: 40vh; margin: 1rem auto 0; border-radius: .5rem; }
  #status { margin: 1rem 0; min-height: 1.5em; }
  #status.error { color: #b32d2e; }
  #answer { display: none; }
  #label { font-size: 1.8rem; font-weight: 700; margin: .25rem 0 1rem; overflow-wrap: anywhere; }
  .bar { margin: .4rem 0; }
  .bar .name { display: flex; justify-content: space-between; gap: .5rem; overflow-wrap: anywhere; }
  .bar .track { background: #dcdcde; border-radius: .25rem; height: .8rem; overflow: hidden; }
  .bar .fill { background: #2271b1; height: 100%; }
  table { width: 100%; border-collapse: collapse; margin-top: .5rem; font-size: .9rem; }
  th, td { text-align: left; padding: .3rem .25rem; border-bottom: 1px solid #dcdcde; overflow-wrap: anywhere; }
  .num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
  #key { display: none; margin-top: .75rem; }
  #key input { width: 100%; box-sizing: border-box; padding: .4rem; }
  footer { margin-top: 1.5rem; font-size: .8rem; color: #646970; }
</style>
</head>
<body>
<h1>What fruit is this?</h1>
<label class="pick">Choose or take a photo
  <input id="photo" type="file" accept="image/*" capture="environment">
</label>
<div id="key"><label>API key <input id="apikey" type="password" autocomplete="off"></label></div>
<img id="preview" alt="the chosen photo">
<p id="status" role="status" aria-live="polite"></p>
<section id="answer">
  <div>Most likely</div>
  <div id="label"></div>
  <div id="bars"></div>
  <h2 style="font-size:1.1rem">Nearest training images</h2>
  <table>
    <thead><tr><th>#</th><th>label</th><th class="num">distance</th></tr></thead>
    <tbody id="neighbours"></tbody>
  </table>
  <footer id="model"></footer>
</section>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
function text(tag, value, className) {
  const node = document.createElement(tag);
  node.textContent = value;
  if (className) node.className = className;
  return node;
}
function show(answer) {
  $("label").textContent = answer.labels.length ? answer.labels[0].label : "";
  const bars = $("bars");
  bars.replaceChildren();
  for (const score of answer.labels) {
    const bar = document.createElement("div");
    bar.className = "bar";
    const name = document.createElement("div");
    name.className = "name";
    name.append(text("span", score.label), text("span", Math.round(score.share * 100) + " % (" + score.votes + (score.votes === 1 ? " vote)" : " votes)")));
    const track = document.createElement("div");
    track.className = "track";
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = Math.max(0, Math.min(100, score.share * 100)) + "%";
    track.append(fill);
    bar.append(name, track);
    bars.append(bar);
  }
  const rows = $("neighbours");
  rows.replaceChildren();
  answer.neighbours.forEach((neighbour, index) => {
    const row = document.createElement("tr");
    row.title = neighbour.path;
    row.append(text("td", String(index + 1)), text("td", neighbour.label), text("td", neighbour.distance.toFixed(3), "num"));
    rows.append(row);
  });
  $("model").textContent = answer.model.architecture + " · weights " + answer.model.sha256.slice(0, 12) +
    " · answered in " + (answer.seconds * 1000).toFixed(0) + " ms";
  $("answer").style.display = "block";
}
async function recognise(file) {
  const status = $("status");
  status.className = "";
  status.textContent = "Recognising…";
  $("answer").style.display = "none";
  const preview = $("preview");
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(file);
  preview.style.display = "block";
  const form = new FormData();
  form.append("photo", file, file.name || "photo.jpg");
  const headers = {};
  const key = $("apikey").value.trim();
  if (key) headers["Authorization"] = "Bearer " + key;
  try {
    const response = await fetch("v1/recognize", { method: "POST", body: form, headers });
    const body = await response.json().catch(() => ({ error: "the answer was not JSON (status " + response.status + ")" }));
    if (!response.ok) {
      if (response.status === 401) $("key").style.display = "block";
      status.className = "error";
      status.textContent = body.error || ("error " + response.status);
      return;
    }
    status.textContent = "";
    show(body);
  } catch (error) {
    status.className = "error";
    status.textContent = "The service could not be reached: " + error.message;
  }
}
$("photo").addEventListener("change", (event) => {
  const file = event.target.files && event.target.files[0];
  if (file) recognise(file);
});
</script>
</body>
</html>
"""#
}
