#!/usr/bin/env python3
"""Checks a FruitFeatures report the way a person would: renders it in headless Chromium and looks at it.

    python Scripts/check_report_screenshot.py OUT_DIR/report.html [--expect-label Apple ...] [--screenshot out.png]

Needs Chromium (Debian: apt-get install chromium; or --chromium PATH) and Pillow. Exits 0 when every check
passes, 1 with one line per failed check otherwise.

DOM (chromium --dump-dom, i.e. after Chromium parsed the page):
  - the explained-variance chart: an <svg id="explained-variance-plot"> with one bar per component and the
    cumulative curve (a polyline with one point per component, plus the origin);
  - the scatter plot: an <svg id="pca-scatter-plot"> with at least one point, and a legend listing every
    label drawn (each --expect-label among them);
  - the label-count chart, the threshold table and the other sections present;
  - nothing fetched: no <script>, no src= or href= attributes, no <link>.
Screenshot (chromium --screenshot):
  - not blank: many colours, a good share of non-background pixels;
  - every legend colour (up to 10 labels), the bar colour and the curve colour are actually painted.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser

from PIL import Image


class Page(HTMLParser):
    """Collects what the checks need from the parsed DOM."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids = {}
        self.stack = []
        self.bars = 0
        self.curve_points = 0
        self.scatter_points = 0
        self.legend = []           # (label, colour)
        self.in_legend_item = None
        self.fetching = []
        self.sections = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.stack.append((tag, attributes.get("id")))
        if "id" in attributes:
            self.ids[attributes["id"]] = tag
        if tag == "section":
            self.sections.append(attributes.get("id"))
        if tag in ("script", "link", "iframe", "img") or "src" in attributes or "href" in attributes:
            self.fetching.append(tag)
        enclosing = [identifier for _, identifier in self.stack]
        if tag == "rect" and "variance-bars" in enclosing:
            self.bars += 1
        if tag == "polyline" and attributes.get("id") == "cumulative-variance":
            self.curve_points = len(attributes.get("points", "").split())
        if tag == "circle" and "scatter-points" in enclosing:
            self.scatter_points += 1
        if tag == "li" and "scatter-legend" in enclosing:
            self.in_legend_item = attributes.get("data-label")
        if tag == "span" and self.in_legend_item is not None and "swatch" in attributes.get("class", ""):
            style = attributes.get("style", "")
            colour = style.split("background:")[-1].strip().rstrip(";") if "background:" in style else ""
            self.legend.append((self.in_legend_item, colour))

    def handle_endtag(self, tag):
        # Pop to the matching tag: the parser sees void elements without end tags.
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                break
        if tag == "li":
            self.in_legend_item = None


def find_chromium(explicit):
    if explicit:
        return explicit
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("check_report_screenshot: no chromium found (apt-get install chromium, or pass --chromium)")


def run_chromium(chromium, profile, arguments):
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}"] + arguments
    return subprocess.run(command, capture_output=True, timeout=120, check=False)


def hex_to_rgb(colour):
    colour = colour.strip().lstrip("#")
    return tuple(int(colour[i:i + 2], 16) for i in (0, 2, 4))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report")
    parser.add_argument("--expect-label", action="append", default=[])
    parser.add_argument("--chromium")
    parser.add_argument("--screenshot", help="keep the screenshot here")
    options = parser.parse_args()
    chromium = find_chromium(options.chromium)
    url = "file://" + os.path.abspath(options.report)
    failures = []

    with tempfile.TemporaryDirectory(prefix="ff-report-check-") as scratch:
        dumped = run_chromium(chromium, os.path.join(scratch, "profile-dom"), ["--dump-dom", url])
        if dumped.returncode != 0 or not dumped.stdout:
            sys.exit(f"check_report_screenshot: chromium --dump-dom failed: {dumped.stderr.decode(errors='replace')[-500:]}")
        page = Page()
        page.feed(dumped.stdout.decode("utf-8"))

        for identifier in ("explained-variance-plot", "pca-scatter-plot", "label-counts-plot"):
            if page.ids.get(identifier) != "svg":
                failures.append(f"no <svg id=\"{identifier}\"> in the DOM")
        for identifier in ("variance-thresholds", "label-counts", "scatter-legend"):
            if identifier not in page.ids:
                failures.append(f"no element #{identifier} in the DOM")
        for section in ("overview", "variance", "scatter", "labels", "evaluation", "errors", "run"):
            if section not in page.sections:
                failures.append(f"no section #{section}")
        if page.bars == 0:
            failures.append("the explained-variance chart has no bars")
        elif page.curve_points != page.bars + 1:
            failures.append(f"the cumulative curve has {page.curve_points} points for {page.bars} components")
        if page.scatter_points == 0:
            failures.append("the scatter plot has no points")
        labels = [label for label, _ in page.legend]
        if not labels:
            failures.append("the legend lists no labels")
        for label in options.expect_label:
            if label not in labels:
                failures.append(f"label {label!r} is not in the legend ({labels})")
        if page.fetching:
            failures.append(f"the page would fetch something: {sorted(set(page.fetching))}")

        shot = options.screenshot or os.path.join(scratch, "report.png")
        rendered = run_chromium(chromium, os.path.join(scratch, "profile-shot"),
                                ["--window-size=1000,3200", f"--screenshot={shot}", url])
        if rendered.returncode != 0 or not os.path.exists(shot):
            sys.exit(f"check_report_screenshot: chromium --screenshot failed: {rendered.stderr.decode(errors='replace')[-500:]}")
        image = Image.open(shot).convert("RGB")
        width, height = image.size
        counts = {colour: count for count, colour in image.getcolors(maxcolors=width * height)}
        background, background_count = max(counts.items(), key=lambda item: item[1])
        painted = 1 - background_count / (width * height)
        if len(counts) < 50:
            failures.append(f"the screenshot has only {len(counts)} colours: blank or broken")
        if painted < 0.10:
            failures.append(f"only {painted:.1%} of the screenshot differs from its background {background}")

        def painted_pixels(rgb, tolerance=2):
            return sum(count for colour, count in counts.items()
                       if all(abs(a - b) <= tolerance for a, b in zip(colour, rgb)))

        wanted = [(f"legend colour of {label!r}", colour) for label, colour in page.legend[:10] if colour]
        wanted += [("explained-variance bars", "#4e79a7"), ("cumulative curve", "#e15759")]
        for what, colour in wanted:
            found = painted_pixels(hex_to_rgb(colour))
            if found < 12:
                failures.append(f"the {what} ({colour}) is painted on only {found} pixels")

        print(f"DOM: {page.bars} components, {page.scatter_points} scatter points, legend {labels}; "
              f"screenshot {width}x{height}, {len(counts)} colours, {painted:.1%} painted")

    if failures:
        for failure in failures:
            print("FAIL:", failure)
        sys.exit(1)
    print("report looks right")


if __name__ == "__main__":
    main()
