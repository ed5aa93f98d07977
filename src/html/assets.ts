/**
 * The report's only style sheet and script, inlined into every page: a page works offline and
 * as a single attachment (no network, no external assets). The script does one thing: copy a
 * block (the replay command, the TS snippet) to the clipboard.
 */
export const STYLE = `
:root { --fg: #1d232a; --muted: #5d6b78; --line: #c9d1d9; --bad: #c62828; --bad-bg: #fdecea; --ok: #2e7d32;
  --mark-bg: #fff4c2; --code-bg: #f5f7f9; font-family: system-ui, sans-serif; color: var(--fg); }
body { margin: 1.5rem auto; max-width: 1200px; padding: 0 1rem; line-height: 1.45; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1rem; margin: .2rem 0; }
.muted { color: var(--muted); }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .85rem; }
pre { background: var(--code-bg); padding: .6rem .8rem; overflow-x: auto; border-radius: 4px; margin: .3rem 0; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: var(--code-bg); }
td ul { margin: 0; padding-left: 1.1rem; } .index td:nth-child(4) { white-space: nowrap; }
.verdict-met { color: var(--ok); font-weight: 600; } .verdict-unmet { color: var(--bad); font-weight: 600; }
.violation { border-left: 4px solid var(--bad); background: var(--bad-bg); padding: .5rem .8rem; }
.violation td:first-child { width: 7rem; font-weight: 600; }
.chart { overflow-x: auto; border: 1px solid var(--line); border-radius: 4px; }
.sequence-chart .lane-name { font-weight: 600; font-size: 13px; fill: var(--fg); }
.sequence-chart .lifeline { stroke: var(--line); stroke-dasharray: 4 3; }
.sequence-chart .arrow line { stroke: #37474f; stroke-width: 1.5; }
.sequence-chart .arrow.refused line { stroke-dasharray: 6 3; }
.sequence-chart .arrow text { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; fill: var(--fg); }
.sequence-chart .arrow .result { fill: var(--muted); }
.sequence-chart .arrow.violating line { stroke: var(--bad); stroke-width: 2.5; }
.sequence-chart .arrow.violating text { fill: var(--bad); font-weight: 700; }
.sequence-chart .inflight { fill: #ffcc80; stroke: #ef6c00; opacity: .8; }
.sequence-chart .head { fill: #37474f; } .sequence-chart .head.violating { fill: var(--bad); }
.step { border: 1px solid var(--line); border-radius: 4px; margin: .6rem 0; padding: .4rem .7rem; }
.step.violating { border: 2px solid var(--bad); background: var(--bad-bg); }
.step .actor { background: #e3ecf5; border-radius: 3px; padding: 0 .35rem; font-size: .8rem; }
.step .refused { color: #8a5300; }
.step p.inflight { color: #a04f00; font-size: .85rem; margin: .2rem 0; }
.explain { background: var(--mark-bg); padding: .3rem .6rem; margin: .3rem 0; border-radius: 3px; }
.explain div { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .8rem; }
.diff td { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .78rem; word-break: break-all; }
.diff .part { font-weight: 600; background: var(--code-bg); }
.diff tr.named td { background: var(--mark-bg); }
.diff .before { color: #8e2424; } .diff .after { color: #1f5f23; }
details > summary { cursor: pointer; }
button.copy { float: right; font-size: .8rem; }
.graph { overflow-x: auto; border: 1px solid var(--line); border-radius: 4px; }
.state-graph .node circle { fill: #fff; stroke: #607d8b; } .state-graph .node.on-trace circle { stroke: #1565c0; stroke-width: 2.5; }
.state-graph .node.violating circle { fill: var(--bad-bg); stroke: var(--bad); stroke-width: 3; }
.state-graph .node text { font-size: 10px; fill: var(--fg); }
.state-graph .edge line { stroke: #b0bec5; } .state-graph .edge.on-trace line { stroke: #1565c0; stroke-width: 2; }
.state-graph .edge text { font-size: 9px; fill: var(--muted); }
`;

export const COPY_SCRIPT = `
document.querySelectorAll('button.copy').forEach(function (button) {
  button.addEventListener('click', function () {
    var target = document.getElementById(button.getAttribute('data-target'));
    if (target === null) return;
    var text = target.textContent || '';
    var done = function () { button.textContent = 'copied'; setTimeout(function () { button.textContent = 'copy'; }, 1500); };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, function () {});
    else { var range = document.createRange(); range.selectNodeContents(target); var selection = window.getSelection();
      selection.removeAllRanges(); selection.addRange(range); try { document.execCommand('copy'); done(); } catch (e) {} }
  });
});
`;
