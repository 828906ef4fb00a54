//! Which series the page shows: the metric picker (from `/api/metrics`,
//! with each metric's unit and series count), the filter as chips with
//! autocomplete of tag keys and top values, group-by one or two tag keys,
//! the quantile drawn per group, and the threshold line (`le`).

use leptos::prelude::*;
use shared::filter::{Filter, GroupBy};

use crate::page::Page;
use crate::view_state::quantile_label;

/// The series controls, in one row.
#[component]
pub fn SeriesControls(
    /// The page.
    page: Page,
) -> impl IntoView {
    view! {
        <div class="series-controls">
            <MetricPicker page=page/>
            <FilterChips page=page/>
            <GroupBySelect page=page/>
            <LineQuantile page=page/>
            <Threshold page=page/>
            <Shift page=page/>
        </div>
    }
}

/// The metric select; choosing one clears filter and grouping (their tags
/// belong to the old metric).
#[component]
fn MetricPicker(page: Page) -> impl IntoView {
    let current = move || page.metric();
    let options = move || {
        let mut list = page.metrics.get();
        let cur = current();
        if !cur.is_empty() && !list.iter().any(|m| m.metric == cur) {
            // Not seen yet (no data): still shown as chosen.
            list.push(crate::api::MetricInfo {
                metric: cur,
                unit: String::new(),
                series: 0,
                tags: Default::default(),
            });
        }
        list
    };
    view! {
        <label class="picker">"metric "
            <select data-testid="metric-picker" on:change=move |e| {
                let metric = event_target_value(&e);
                page.set_view(|v| {
                    v.metric = Some(metric);
                    v.filter = Filter::default();
                    v.by = None;
                });
            }>
                {move || options().into_iter().map(|m| {
                    let name = m.metric.clone();
                    let selected = name == current();
                    let unit = if m.unit.is_empty() { String::new() } else { format!("{} · ", m.unit) };
                    view! {
                        <option value=name.clone() selected=selected>
                            {format!("{name} ({unit}{} series)", m.series)}
                        </option>
                    }
                }).collect_view()}
            </select>
        </label>
    }
}

/// `key:`, `key:value` and `!key:value` for each tag key and top value of
/// the metric.
fn suggestions(page: Page) -> Vec<String> {
    let Some(info) = page.metric_info() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, tag) in &info.tags {
        out.push(format!("{key}:"));
        for (value, _) in &tag.top {
            let escaped = shared::filter::escape_value(value);
            out.push(format!("{key}:{escaped}"));
            out.push(format!("!{key}:{escaped}"));
        }
    }
    out
}

/// The filter's terms as removable chips, and an input that adds one.
#[component]
fn FilterChips(page: Page) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let add = move || {
        let term = text.get_untracked().trim().to_owned();
        if term.is_empty() {
            return;
        }
        let current = page.view.with_untracked(|v| v.filter.to_text());
        let combined = if current.is_empty() {
            term
        } else {
            format!("{current},{term}")
        };
        match Filter::parse(&combined) {
            Ok(f) => {
                error.set(None);
                text.set(String::new());
                page.set_view(|v| v.filter = f);
            }
            Err(e) => error.set(Some(e.to_string())),
        }
    };
    view! {
        <div class="filter" data-testid="filter">
            {move || page.view.with(|v| v.filter.term_texts()).into_iter().enumerate().map(|(i, term)| view! {
                <span class="chip on filter-chip" data-testid="filter-chip" data-term=term.clone()>
                    {term.clone()}
                    <button class="remove" data-testid="filter-remove" title="remove"
                        on:click=move |_| page.set_view(|v| v.filter = v.filter.without_term(i))>"×"</button>
                </span>
            }).collect_view()}
            <input data-testid="filter-input" list="filter-suggestions" placeholder="service:checkout, !host:dn-3, route:/api*"
                size="24"
                prop:value=move || text.get()
                on:input=move |e| text.set(event_target_value(&e))
                on:keydown=move |e| if e.key() == "Enter" { add() } />
            <datalist id="filter-suggestions">
                {move || suggestions(page).into_iter().map(|s| view! { <option value=s></option> }).collect_view()}
            </datalist>
            <button data-testid="filter-add" on:click=move |_| add()>"filter"</button>
            {move || error.get().map(|e| view! { <span class="error" data-testid="filter-error">{e}</span> })}
        </div>
    }
}

/// Group by none, one or two tag keys of the metric.
#[component]
fn GroupBySelect(page: Page) -> impl IntoView {
    let keys = move || {
        page.metric_info()
            .map(|m| m.tags.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let chosen = move |i: usize| {
        page.view
            .with(|v| v.by.as_ref().and_then(|b| b.keys().get(i).cloned()))
            .unwrap_or_default()
    };
    let set = move |i: usize, key: String| {
        let mut list: Vec<String> = (0..2).map(chosen).filter(|k| !k.is_empty()).collect();
        if key.is_empty() {
            list.truncate(i);
        } else if i < list.len() {
            list[i] = key;
        } else {
            list.push(key);
        }
        list.dedup();
        let by = GroupBy::parse(&list.join(",")).ok();
        page.set_view(|v| v.by = by);
    };
    let select = move |i: usize| {
        view! {
            <select data-testid=if i == 0 { "group-by" } else { "group-by-2" }
                on:change=move |e| set(i, event_target_value(&e))>
                <option value="" selected=move || chosen(i).is_empty()>{if i == 0 { "no grouping" } else { "—" }}</option>
                {move || {
                    let mut list = keys();
                    let current = chosen(i);
                    if !current.is_empty() && !list.contains(&current) {
                        list.push(current);
                    }
                    list.into_iter().map(|k| {
                        let is = k == chosen(i);
                        view! { <option value=k.clone() selected=is>{k.clone()}</option> }
                    }).collect_view()
                }}
            </select>
        }
    };
    view! {
        <label class="picker">"group by " {select(0)}
            {move || (!chosen(0).is_empty()).then(|| select(1))}
        </label>
    }
}

/// Which chosen quantile is drawn per group (when grouped and several are on).
#[component]
fn LineQuantile(page: Page) -> impl IntoView {
    move || {
        let (grouped, qs, line) = page.view.with(|v| (v.by.is_some(), v.qs.clone(), v.line_q()));
        (grouped && qs.len() > 1).then(|| {
            view! {
                <label class="picker">"line "
                    <select data-testid="line-q" on:change=move |e| {
                        if let Ok(q) = event_target_value(&e).parse::<f64>() {
                            page.set_view(|v| v.line = Some(q));
                        }
                    }>
                        {qs.into_iter().map(|q| view! {
                            <option value=q.to_string() selected=q == line>{quantile_label(q)}</option>
                        }).collect_view()}
                    </select>
                </label>
            }
        })
    }
}

/// `≤ [250] ms`: the threshold line on the chart and heatmap.
#[component]
fn Threshold(page: Page) -> impl IntoView {
    let text = RwSignal::new(
        page.view
            .with_untracked(|v| v.le.map(|x| x.to_string()).unwrap_or_default()),
    );
    let error = RwSignal::new(None::<String>);
    let apply = move || {
        let t = text.get_untracked();
        let t = t.trim();
        if t.is_empty() {
            error.set(None);
            page.set_view(|v| v.le = None);
            return;
        }
        match t.parse::<f64>() {
            Ok(x) if x.is_finite() => {
                error.set(None);
                page.set_view(|v| v.le = Some(x));
            }
            _ => error.set(Some(format!("{t:?} is not a number"))),
        }
    };
    view! {
        <label class="picker">"line at ≤ "
            <input data-testid="le" size="6" placeholder="250"
                prop:value=move || text.get()
                on:input=move |e| text.set(event_target_value(&e))
                on:change=move |_| apply()
                on:keydown=move |e| if e.key() == "Enter" { apply() } />
            {move || page.look().unit}
            {move || error.get().map(|e| view! { <span class="error">{e}</span> })}
        </label>
    }
}

/// Overlays of earlier times: `shift=1h` draws the same lines an hour ago, dashed.
#[component]
fn Shift(page: Page) -> impl IntoView {
    const CHOICES: [(&str, Option<i64>); 4] = [
        ("no comparison", None),
        ("vs 5 m ago", Some(300_000)),
        ("vs 1 h ago", Some(3_600_000)),
        ("vs 1 d ago", Some(86_400_000)),
    ];
    view! {
        <select data-testid="shift" on:change=move |e| {
            let ms = event_target_value(&e).parse::<i64>().ok().filter(|&ms| ms > 0);
            page.set_view(|v| v.shift_ms = ms);
        }>
            {CHOICES.into_iter().map(|(label, ms)| view! {
                <option value=ms.unwrap_or(0).to_string() selected=move || page.view.with(|v| v.shift_ms) == ms>{label}</option>
            }).collect_view()}
        </select>
    }
}
