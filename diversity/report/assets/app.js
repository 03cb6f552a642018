/* rollout-diversity report: charts and a group browser drawn from the data embedded in the page.
   No library, no network. Text from the logs reaches the page only as text (textContent,
   createTextNode, setAttribute on inert attributes), never as markup. The data contract is
   described in diversity/report_data.py. Each report root (.rd-app) is set up once and every
   query stays inside it, so several reports can share one notebook. */
(function () {
  "use strict";

  const SVG_NS = "http://www.w3.org/2000/svg";
  const PAGE_ROWS = 25;
  const HISTOGRAM_BINS = 10;

  // ------------------------------------------------------------ DOM helpers

  function setAttributes(node, attributes) {
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = String(value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
  }

  function append(node, children) {
    for (const child of [].concat(children === undefined ? [] : children)) {
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "string" || typeof child === "number"
        ? document.createTextNode(String(child)) : child);
    }
    return node;
  }

  function el(tag, attributes, children) {
    const node = document.createElement(tag);
    setAttributes(node, attributes);
    return append(node, children);
  }

  function sv(tag, attributes, children) {
    const node = document.createElementNS(SVG_NS, tag);
    setAttributes(node, attributes);
    return append(node, children);
  }

  function fmt(value) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    if (typeof value !== "number") return String(value);
    if (Number.isInteger(value)) return value.toLocaleString("en-US");
    return Math.abs(value) >= 1000 ? value.toFixed(0) : String(Number(value.toPrecision(3)));
  }

  function rowsOf(table) {
    return table.rows.map((row) => {
      const item = {};
      table.columns.forEach((column, i) => { item[column] = row[i]; });
      return item;
    });
  }

  // [min, max] without spreading (a spread of many values overflows the call stack); null when empty.
  function extent(values) {
    let low = Infinity, high = -Infinity;
    for (const v of values) { if (v < low) low = v; if (v > high) high = v; }
    return low <= high ? [low, high] : null;
  }

  function unique(values) {
    return Array.from(new Set(values));
  }

  function select(label, options, onChange) {
    const control = el("select", {}, options.map(([value, text]) => el("option", {value: value, text: text})));
    control.addEventListener("change", () => onChange(control.value));
    return {label: el("label", {}, [label + " ", control]), control: control};
  }

  // ------------------------------------------------------------ the model

  function prepare(data) {
    const texts = data.texts;
    const groups = rowsOf(data.groups).map((group, index) => {
      group.index = index;
      group.prompt = group.prompt === null ? "" : texts[group.prompt];
      group.task = group.task === null ? "-" : group.task;
      group.answers = group.answers.map((a) => ({text: texts[a[0]], count: a[1], reward: a[2], tokens: a[3]}));
      group.logged = group.answers.reduce((sum, a) => sum + a.count, 0);
      group.distinct = group.answers.length;
      return group;
    });
    const rewards = groups.flatMap((g) => g.answers.map((a) => a.reward)).filter((r) => r !== null);
    return {
      data: data,
      metrics: data.metrics,
      groups: groups,
      steps: rowsOf(data.steps),
      entropy: rowsOf(data.entropy),
      evalReward: rowsOf(data.eval_reward),
      rewardRange: extent(rewards),
    };
  }

  // Points of one lineage, led by its parent's last point before the fork (as the PNG figures draw it).
  function withParent(rows, lineage, parents, value) {
    const own = rows.filter((r) => r.lineage === lineage && r[value] !== null).sort((a, b) => a.step - b.step);
    const parent = parents[lineage];
    if (!parent || !own.length) return own;
    const before = rows.filter((r) => r.lineage === parent && r.step < own[0].step && r[value] !== null)
      .sort((a, b) => a.step - b.step);
    return before.length ? [before[before.length - 1]].concat(own) : own;
  }

  // ------------------------------------------------------------ charts

  function niceTicks(low, high, count) {
    const span = high - low || 1;
    const raw = span / count;
    const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) || raw;
    const ticks = [];
    for (let t = Math.ceil(low / step) * step; t <= high + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
    return ticks;
  }

  // A line chart: series [{name, color, points: [{x, y, se}]}] over the page's step range (every
  // chart shares it), dotted phase boundaries; hover shows every series at the nearest step,
  // click (or Enter) opens that step.
  function lineChart(options) {
    const W = 560, H = 250, M = {left: 56, right: 14, top: 16, bottom: 36};
    const series = options.series.filter((s) => s.points.length);
    const figure = el("figure", {class: "rd-chart", "data-chart": options.id});
    append(figure, el("figcaption", {text: options.title}));
    if (!series.length) return append(figure, el("p", {class: "rd-note", text: "No values to draw."}));
    const points = series.flatMap((s) => s.points);
    const xs = unique(points.map((p) => p.x)).sort((a, b) => a - b);
    let [x0, x1] = options.domain;
    if (x0 === x1) { x0 -= 1; x1 += 1; }
    let [y0, y1] = extent(points.flatMap((p) => [p.y - (p.se || 0), p.y + (p.se || 0)]));
    const pad = (y1 - y0) * 0.06 || Math.abs(y1) * 0.1 || 0.5;
    y0 -= pad; y1 += pad;
    const sx = (x) => M.left + (x - x0) / (x1 - x0) * (W - M.left - M.right);
    const sy = (y) => H - M.bottom - (y - y0) / (y1 - y0) * (H - M.top - M.bottom);
    const chart = sv("svg", {viewBox: `0 0 ${W} ${H}`, role: "img", tabindex: 0, "aria-label": options.title});
    for (const t of niceTicks(y0, y1, 5)) {
      append(chart, [sv("line", {x1: M.left, x2: W - M.right, y1: sy(t), y2: sy(t), class: "rd-grid"}),
        sv("text", {x: M.left - 6, y: sy(t) + 4, class: "rd-tick rd-y", text: fmt(t)})]);
    }
    for (const t of niceTicks(x0, x1, 6)) {
      append(chart, sv("text", {x: sx(t), y: H - M.bottom + 16, class: "rd-tick rd-x", text: fmt(t)}));
    }
    append(chart, [
      sv("line", {x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom, class: "rd-axis"}),
      sv("text", {x: (M.left + W - M.right) / 2, y: H - 4, class: "rd-label", text: "global training step"}),
      sv("text", {x: 12, y: (M.top + H - M.bottom) / 2, class: "rd-label",
        transform: `rotate(-90 12 ${(M.top + H - M.bottom) / 2})`, text: options.yLabel}),
    ]);
    for (const [phase, step] of options.boundaries) {
      if (step < x0 || step > x1) continue;
      append(chart, [sv("line", {x1: sx(step), x2: sx(step), y1: M.top, y2: H - M.bottom, class: "rd-boundary"}),
        sv("text", {x: sx(step) + 4, y: M.top + 10, class: "rd-tick", text: `phase ${phase}`})]);
    }
    for (const s of series) {
      const line = s.points.map((p, i) => `${i ? "L" : "M"}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join("");
      if (s.points.some((p) => p.se > 0)) {
        const upper = s.points.map((p, i) => `${i ? "L" : "M"}${sx(p.x).toFixed(1)},${sy(p.y + (p.se || 0)).toFixed(1)}`);
        const lower = s.points.slice().reverse().map((p) => `L${sx(p.x).toFixed(1)},${sy(p.y - (p.se || 0)).toFixed(1)}`);
        append(chart, sv("path", {d: upper.join("") + lower.join("") + "Z", fill: s.color, class: "rd-band"}));
      }
      append(chart, sv("path", {d: line, stroke: s.color, class: "rd-line", "data-series": s.name}));
      if (s.points.length <= 40) {
        for (const p of s.points) append(chart, sv("circle", {cx: sx(p.x), cy: sy(p.y), r: 2.5, fill: s.color}));
      }
    }
    const guide = sv("line", {y1: M.top, y2: H - M.bottom, class: "rd-guide", visibility: "hidden"});
    const markers = sv("g", {});
    const overlay = sv("rect", {x: M.left, y: M.top, width: W - M.left - M.right, height: H - M.top - M.bottom,
      class: "rd-overlay"});
    append(chart, [guide, markers, overlay]);
    const tip = el("div", {class: "rd-tip", role: "status", hidden: true});
    const box = append(el("div", {class: "rd-plot"}), [chart, tip]);
    append(figure, box);

    let current = null;
    function show(step) {
      current = step;
      guide.setAttribute("x1", sx(step)); guide.setAttribute("x2", sx(step));
      guide.setAttribute("visibility", "visible");
      markers.replaceChildren();
      const lines = [el("strong", {text: `step ${step}`})];
      for (const s of series) {
        const here = s.points.filter((q) => q.x === step);  // a phase's last and the next one's first may share a step
        for (const p of here) {
          append(markers, sv("circle", {cx: sx(p.x), cy: sy(p.y), r: 4, fill: s.color, class: "rd-marker"}));
          const name = here.length > 1 ? `${s.name} (phase ${p.phase})` : s.name;
          lines.push(el("div", {}, [el("span", {class: "rd-key", text: name + ": "}),
            fmt(p.y) + (p.se > 0 ? ` ± ${fmt(p.se)}` : "")]));
        }
      }
      lines.push(el("div", {class: "rd-note", text: "click to open this step"}));
      tip.replaceChildren(...lines);
      tip.hidden = false;
      const fraction = sx(step) / W;
      tip.style.left = `${Math.round(fraction * box.clientWidth)}px`;
      tip.classList.toggle("rd-tip-left", fraction > 0.6);
    }
    function hide() {
      current = null;
      guide.setAttribute("visibility", "hidden");
      markers.replaceChildren();
      tip.hidden = true;
    }
    function nearest(clientX) {
      const bounds = chart.getBoundingClientRect();
      const x = x0 + ((clientX - bounds.left) / bounds.width * W - M.left) / (W - M.left - M.right) * (x1 - x0);
      return xs.reduce((best, s) => (Math.abs(s - x) < Math.abs(best - x) ? s : best), xs[0]);
    }
    overlay.addEventListener("mousemove", (event) => show(nearest(event.clientX)));
    chart.addEventListener("mouseleave", hide);
    chart.addEventListener("blur", hide);
    overlay.addEventListener("click", (event) => options.onPick(nearest(event.clientX)));
    chart.addEventListener("keydown", (event) => {
      const i = current === null ? -1 : xs.indexOf(current);
      if (event.key === "ArrowRight") show(xs[Math.min(xs.length - 1, i + 1)]);
      else if (event.key === "ArrowLeft") show(xs[Math.max(0, i - 1)]);
      else if (event.key === "Enter" && current !== null) options.onPick(current);
      else return;
      event.preventDefault();
    });
    return figure;
  }

  function legend(model) {
    return el("ul", {class: "rd-legend"}, model.data.lineages.map((name) => el("li", {}, [
      sv("svg", {viewBox: "0 0 12 12", width: 12, height: 12}, sv("rect", {width: 12, height: 12, fill: model.data.colors[name]})),
      " " + name + (model.data.parents[name] ? ` (forked from ${model.data.parents[name]})` : ""),
    ])));
  }

  function seriesOf(model, rows, value, se) {
    return model.data.lineages.map((lineage) => ({
      name: lineage,
      color: model.data.colors[lineage],
      points: withParent(rows, lineage, model.data.parents, value)
        .map((r) => ({x: r.step, y: r[value], se: se ? r[se] : 0, phase: r.phase})),
    }));
  }

  function drawCharts(root, model, openStep) {
    const host = root.querySelector('[data-rd="charts"]');
    const boundaries = model.data.boundaries;
    const domain = extent(model.steps.concat(model.entropy).map((r) => r.step)) || [0, 1];
    const grid = (charts) => append(el("div", {class: "rd-charts"}), charts);
    append(host, legend(model));
    append(host, el("p", {class: "rd-note", text: "Hover a chart for the values at a step (arrow keys when it has focus); click, or press Enter, to open that step: its per-step summaries and its groups below."}));
    append(host, grid([lineChart({
      id: "entropy", title: "Policy entropy (token mean, nats) over global step", yLabel: "entropy (nats)",
      series: seriesOf(model, model.entropy, "entropy", "se"), boundaries: boundaries, onPick: openStep, domain: domain,
    })].concat(unique(model.evalReward.map((r) => r.task)).map((task) => lineChart({
      id: `reward-${task}`, title: `Eval reward, task ${task} (higher = better)`, yLabel: "eval reward",
      series: seriesOf(model, model.evalReward.filter((r) => r.task === task), "reward", "se"),
      boundaries: boundaries, onPick: openStep, domain: domain,
    })))));
    if (!model.metrics.length) return;
    const splits = unique(model.steps.filter((r) => r.scored > 0).map((r) => r.split)).sort();
    const metricsHost = el("div", {});
    const draw = (split) => {
      const rows = model.steps.filter((r) => r.split === split);
      metricsHost.replaceChildren(grid(model.metrics.map((m) => lineChart({
        id: `metric-${m.name}`, title: `${m.name.replace(/_/g, " ")} (${m.direction}; ${split} groups, band ±1 s.e.)`,
        yLabel: m.name, series: seriesOf(model, rows, m.name, `${m.name}_se`), boundaries: boundaries, onPick: openStep, domain: domain,
      }))));
    };
    const chooser = select("Diversity metrics of", splits.map((s) => [s, `${s} groups`]), draw);
    chooser.control.value = splits.includes("eval") ? "eval" : splits[0];
    chooser.control.setAttribute("data-f", "metric-split");
    append(host, [el("h3", {text: "Diversity per lineage"}), el("p", {}, chooser.label), metricsHost]);
    draw(chooser.control.value);
  }

  // ------------------------------------------------------------ one step, one group

  function stepPanel(root, model, step, inPage) {
    const panel = root.querySelector('[data-rd="step"]');
    const rows = model.steps.filter((r) => r.step === step);
    const metrics = model.metrics.map((m) => m.name);
    const head = ["lineage", "phase", "split", "groups", "scored", "answers", "reward", "entropy", "tokens"].concat(metrics);
    const close = el("button", {type: "button", text: "Close"});
    close.addEventListener("click", () => { panel.hidden = true; });
    panel.replaceChildren(
      el("h3", {text: `Step ${step}`}),
      el("div", {class: "rd-scroll"}, el("table", {class: "rd-table"}, [
        el("thead", {}, el("tr", {}, head.map((h) => el("th", {text: h})))),
        el("tbody", {}, rows.map((r) => el("tr", {}, head.map((h) => el("td", {text: fmt(r[h])}))))),
      ])),
      el("p", {class: "rd-note", text: inPage
        ? `${inPage} group${inPage === 1 ? "" : "s"} of step ${step} listed in the browser below.`
        : `No group of step ${step} is in the page. ${model.data.selection.rule}`}),
      close,
    );
    panel.hidden = false;
  }

  function histogram(model, group) {
    const rewards = group.answers.filter((a) => a.reward !== null);
    if (!rewards.length || !model.rewardRange) return el("p", {class: "rd-note", text: "No rewards logged."});
    const [low, high] = model.rewardRange;
    const bins = high > low ? HISTOGRAM_BINS : 1;
    const width = (high - low) / bins;
    const counts = new Array(bins).fill(0);
    for (const a of rewards) counts[Math.min(bins - 1, width ? Math.floor((a.reward - low) / width) : 0)] += a.count;
    const W = 240, H = 86, top = extent(counts)[1];
    const chart = sv("svg", {viewBox: `0 0 ${W} ${H}`, class: "rd-histogram", role: "img",
      "aria-label": `reward histogram of ${group.logged} answers`});
    counts.forEach((count, i) => {
      const barHeight = count / top * (H - 30);
      const from = low + i * width, to = bins > 1 ? from + width : high;
      append(chart, sv("rect", {x: 4 + i * (W - 8) / bins, y: H - 18 - barHeight, width: (W - 8) / bins - 2,
        height: barHeight, class: "rd-bar"}, sv("title", {text: `reward ${fmt(from)}–${fmt(to)}: ${count}`})));
      if (count) append(chart, sv("text", {x: 4 + (i + 0.5) * (W - 8) / bins, y: H - 21 - barHeight, class: "rd-tick rd-mid", text: count}));
    });
    append(chart, [sv("text", {x: 4, y: H - 4, class: "rd-tick", text: fmt(low)}),
      sv("text", {x: W - 4, y: H - 4, class: "rd-tick rd-y", text: fmt(high)})]);
    return el("figure", {class: "rd-hist"}, [chart, el("figcaption", {text: "reward histogram (answers per bin; bins span every reward in the page)"})]);
  }

  function answerList(group) {
    const total = group.logged === group.size ? `${group.size} answers`
      : `${group.logged} answers in the logs given (the group was scored over ${group.size})`;
    const note = group.answers.length ? `${total}, ${group.distinct} distinct; identical answers with the same reward folded, most frequent first.`
      : "No answers: the inputs hold this group's scores but not its log.";
    return [el("p", {class: "rd-note", text: note}), el("ol", {class: "rd-answer-list"}, group.answers.map((a) => el("li", {class: "rd-answer"}, [
      el("div", {class: "rd-answer-meta"}, [
        el("span", {class: "rd-count", text: `×${a.count}`}),
        el("span", {text: `reward ${fmt(a.reward)}`}),
        el("span", {text: `${a.tokens === null ? "–" : a.tokens} tokens · ${Array.from(a.text).length} chars`}),
      ]),
      el("div", {class: "rd-text", text: a.text}),
    ])))];
  }

  // The group's mean reward and metric values; ``compact`` leaves the direction to each name's tooltip.
  function metricTable(model, group, compact) {
    const line = (name, value, direction, description) => el("tr", {}, [
      el("th", {text: name, title: compact ? `${direction}. ${description}` : description}), el("td", {text: fmt(value)}),
      compact ? null : el("td", {text: direction}),
    ]);
    return el("table", {class: "rd-table rd-metrics"}, el("tbody", {}, [
      line("mean reward", group.reward, "higher = better", "Mean reward of the group's answers."),
    ].concat(model.metrics.map((m) => line(m.name, group[m.name], m.direction, m.description)))));
  }

  function groupTitle(group) {
    return `${group.lineage} · phase ${group.phase} · step ${group.step} · ${group.split} · task ${group.task} · group ${group.group_id}`;
  }

  // ------------------------------------------------------------ the browser

  function browser(root, model) {
    const host = root.querySelector('[data-rd="browser"]');
    const state = {lineage: "", phase: "", split: "", task: "", from: null, to: null, terms: [], sort: "", desc: false, page: 0};
    const metrics = model.metrics.map((m) => m.name);
    const groups = model.groups;
    const all = (values) => [["", "all"]].concat(unique(values).sort().map((v) => [v, v]));
    const controls = {};
    const choice = (name, label, values) => {
      const s = select(label, all(values), (value) => { state[name] = value; state.page = 0; render(); });
      s.control.setAttribute("data-f", name);
      controls[name] = s.control;
      return s.label;
    };
    const number = (name, label) => {
      const input = el("input", {type: "number", "data-f": name, step: 1, class: "rd-number"});
      input.addEventListener("input", () => { state[name] = input.value === "" ? null : Number(input.value); state.page = 0; render(); });
      controls[name] = input;
      return el("label", {}, [label + " ", input]);
    };
    const search = el("input", {type: "search", "data-f": "q", placeholder: "words in prompts or answers", size: 28});
    let typing = null;
    search.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => {
        state.terms = search.value.toLowerCase().split(/\s+/).filter(Boolean); state.page = 0; render();
      }, 120);
    });
    const sortOptions = [["", "lineage, phase, step"], ["step", "step"], ["reward", "mean reward"], ["distinct", "distinct answers"]]
      .concat(metrics.map((m) => [m, m]));
    const sorter = select("Sort by", sortOptions, (value) => { state.sort = value; state.page = 0; render(); });
    sorter.control.setAttribute("data-f", "sort");
    const direction = el("button", {type: "button", "data-f": "direction", text: "ascending"});
    direction.addEventListener("click", () => {
      state.desc = !state.desc; direction.textContent = state.desc ? "descending" : "ascending"; render();
    });
    const reset = el("button", {type: "button", text: "Reset filters"});
    reset.addEventListener("click", () => setFilter({lineage: "", phase: "", split: "", task: "", from: null, to: null, q: ""}));
    const status = el("p", {class: "rd-status", role: "status"});
    const head = ["lineage", "phase", "step", "split", "task", "prompt", "answers", "reward"].concat(metrics);
    const body = el("tbody", {});
    const pager = el("div", {class: "rd-pager"});
    const detail = el("div", {class: "rd-detail", "data-rd": "detail", hidden: true});
    const compare = el("div", {class: "rd-compare", "data-rd": "compare", hidden: true});
    append(host, [
      el("p", {class: "rd-rule", text: model.data.selection.rule}),
      el("div", {class: "rd-filters"}, [
        choice("lineage", "Lineage", groups.map((g) => g.lineage)), choice("phase", "Phase", groups.map((g) => g.phase)),
        choice("split", "Split", groups.map((g) => g.split)), choice("task", "Task", groups.map((g) => g.task)),
        number("from", "Steps from"), number("to", "to"),
        el("label", {}, ["Search ", search]), sorter.label, direction, reset,
      ]),
      status,
      el("div", {class: "rd-scroll"}, el("table", {class: "rd-table rd-groups"}, [
        el("thead", {}, el("tr", {}, head.map((h) => el("th", {text: h.replace(/_/g, " ")})))), body,
      ])),
      pager, detail, compare,
    ]);

    let haystacks = null;
    function matches(group) {
      if (state.lineage && group.lineage !== state.lineage) return false;
      if (state.phase && group.phase !== state.phase) return false;
      if (state.split && group.split !== state.split) return false;
      if (state.task && group.task !== state.task) return false;
      if (state.from !== null && group.step < state.from) return false;
      if (state.to !== null && group.step > state.to) return false;
      if (!state.terms.length) return true;
      if (!haystacks) haystacks = groups.map((g) => [g.prompt].concat(g.answers.map((a) => a.text)).join("\n").toLowerCase());
      return state.terms.every((term) => haystacks[group.index].includes(term));
    }
    function sortKey(group) {
      if (state.sort === "distinct") return group.answers.length ? group.distinct : null;
      return state.sort ? group[state.sort] : group.index;
    }
    function render() {
      const shown = groups.filter(matches);
      if (state.sort) {
        shown.sort((a, b) => {
          const [x, y] = [sortKey(a), sortKey(b)];
          if (x === null || y === null) return (x === null) - (y === null) || a.index - b.index;
          return (state.desc ? y - x : x - y) || a.index - b.index;
        });
      } else if (state.desc) shown.reverse();
      const pages = Math.max(1, Math.ceil(shown.length / PAGE_ROWS));
      state.page = Math.min(state.page, pages - 1);
      const first = state.page * PAGE_ROWS;
      status.textContent = `${shown.length.toLocaleString("en-US")} of ${groups.length.toLocaleString("en-US")} groups in the page match.`;
      body.replaceChildren(...shown.slice(first, first + PAGE_ROWS).map(row));
      const previous = el("button", {type: "button", text: "‹ previous", disabled: state.page === 0});
      const next = el("button", {type: "button", text: "next ›", disabled: state.page >= pages - 1});
      previous.addEventListener("click", () => { state.page -= 1; render(); });
      next.addEventListener("click", () => { state.page += 1; render(); });
      pager.replaceChildren(previous, ` page ${state.page + 1} of ${pages} `, next);
      return shown;
    }
    function row(group) {
      const prompt = group.prompt.length > 90 ? group.prompt.slice(0, 90) + "…" : group.prompt;
      const tr = el("tr", {tabindex: 0, class: "rd-row", "data-group": group.index}, [
        el("td", {text: group.lineage}), el("td", {text: group.phase}), el("td", {text: group.step}),
        el("td", {text: group.split}), el("td", {text: group.task}),
        el("td", {class: "rd-cell-text", title: group.prompt, text: prompt}),
        el("td", {text: group.answers.length ? `${group.distinct} / ${group.logged}` : "–"}),
        el("td", {text: fmt(group.reward)}),
      ].concat(metrics.map((m) => el("td", {text: fmt(group[m])}))));
      tr.addEventListener("click", () => openGroup(group));
      tr.addEventListener("keydown", (event) => { if (event.key === "Enter") openGroup(group); });
      return tr;
    }
    function openGroup(group) {
      const button = el("button", {type: "button", "data-action": "compare", text: "Compare across lineages"});
      button.addEventListener("click", () => openCompare(group));
      detail.replaceChildren(
        el("h3", {text: groupTitle(group)}),
        el("div", {class: "rd-label-text", text: "Prompt"}), el("div", {class: "rd-text rd-prompt-text", text: group.prompt}),
        el("div", {class: "rd-side"}, [metricTable(model, group), histogram(model, group)]),
        button, ...answerList(group),
      );
      detail.hidden = false;
      compare.hidden = true;
      detail.scrollIntoView({block: "nearest"});
    }
    function openCompare(group) {
      const same = groups.filter((g) => g.step === group.step && g.split === group.split && g.prompt === group.prompt);
      const columns = model.data.lineages.map((lineage) => {
        const mine = same.filter((g) => g.lineage === lineage);
        const match = mine.find((g) => g.group_id === group.group_id) || mine[0];
        const heading = el("h4", {}, [sv("svg", {viewBox: "0 0 12 12", width: 12, height: 12},
          sv("rect", {width: 12, height: 12, fill: model.data.colors[lineage]})), " " + lineage]);
        if (!match) return el("div", {class: "rd-column", "data-lineage": lineage}, [heading, el("p", {class: "rd-note", text: "This prompt is not in the page for this lineage at this step."})]);
        return el("div", {class: "rd-column", "data-lineage": lineage}, [heading,
          el("p", {class: "rd-note", text: `group ${match.group_id}, phase ${match.phase}` + (mine.length > 1 ? ` (1 of ${mine.length} groups of this prompt)` : "")}),
          metricTable(model, match, true), histogram(model, match), ...answerList(match)]);
      });
      compare.replaceChildren(
        el("h3", {text: `Same prompt at step ${group.step} (${group.split}) across lineages`}),
        el("div", {class: "rd-text rd-prompt-text", text: group.prompt}),
        el("div", {class: "rd-columns"}, columns),
      );
      compare.hidden = false;
      compare.scrollIntoView({block: "nearest"});
    }
    function setFilter(values) {
      for (const [name, value] of Object.entries(values)) {
        if (name === "q") { search.value = value; state.terms = value.toLowerCase().split(/\s+/).filter(Boolean); continue; }
        state[name] = value;
        controls[name].value = value === null ? "" : value;
      }
      state.page = 0;
      return render();
    }
    render();
    return {setFilter: setFilter, host: host};
  }

  // ------------------------------------------------------------ start

  function start(root) {
    root.setAttribute("data-ready", "starting");
    const data = JSON.parse(root.querySelector("script[data-rd-data]").textContent);
    const model = prepare(data);
    let groups = null;
    const openStep = (step) => {
      const shown = groups.setFilter({from: step, to: step});
      stepPanel(root, model, step, shown.length);
      root.querySelector('[data-rd="step"]').scrollIntoView({block: "nearest"});
    };
    drawCharts(root, model, openStep);
    groups = browser(root, model);
    root.querySelector('[data-rd="fallback"]').remove();
    root.setAttribute("data-ready", "1");
    root.setAttribute("data-ready-ms", String(Math.round(performance.now())));
    if (root.hasAttribute("data-page")) {
      // Printing shows the PNG figures, which sit in a collapsed section on screen.
      window.addEventListener("beforeprint", () => document.querySelectorAll("details.rd-static").forEach((d) => { d.open = true; }));
      document.body.setAttribute("data-ready", "1");
    }
  }

  for (const root of document.querySelectorAll(".rd-app:not([data-ready])")) {
    try {
      start(root);
    } catch (error) {
      root.setAttribute("data-ready", "failed");
      append(root, el("p", {class: "rd-error", text: `The interactive part failed: ${error}`}));
      throw error;
    }
  }
})();
