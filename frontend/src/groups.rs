//! The grouped table under the chart: each shown group's count, quantiles
//! and share of the values, "N more not shown", and a click on a group adds
//! its tag values to the filter.

use leptos::prelude::*;
use shared::filter::Filter;

use crate::frame::{fmt_ms, Frame, GroupRow};
use crate::page::Page;
use crate::view_state::quantile_label;

/// The filter with one term per tag of `row` (a missing tag as `!key:*`).
fn narrowed(filter: &Filter, row: &GroupRow) -> Filter {
    row.tags.iter().fold(filter.clone(), |f, (k, v)| {
        let next = if v.is_empty() {
            f.with_term(k, "", true, true)
        } else {
            f.with_term(k, v, false, false)
        };
        next.unwrap_or(f)
    })
}

/// `route=/a,host=dn-1` (the e2e test matches rows to the API's groups).
fn tags_attr(row: &GroupRow) -> String {
    row.tags
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The table of groups (nothing when the view is not grouped).
#[component]
pub fn GroupTable(
    /// The page.
    page: Page,
    /// The frame (with its groups).
    frame: Memo<Frame>,
) -> impl IntoView {
    move || {
        let (groups, from, to) = frame.with(|f| (f.groups.clone(), f.from, f.to));
        let groups = groups?;
        let qs = page.view.with(|v| v.qs.clone());
        let unit = page.look().unit;
        let hidden = groups.hidden;
        Some(view! {
            <table class="groups" data-testid="groups" data-from=from data-to=to>
                <thead>
                    <tr>
                        <th>"group"</th>
                        <th>"values"</th>
                        {qs.iter().map(|&q| view! { <th>{format!("{} ({unit})", quantile_label(q))}</th> }).collect_view()}
                        <th>"share"</th>
                    </tr>
                </thead>
                <tbody>
                    {groups.rows.into_iter().enumerate().map(|(i, row)| {
                        let colour = format!("swatch-{}", i % 10);
                        let clicked = row.clone();
                        view! {
                            <tr data-testid="group-row" data-tags=tags_attr(&row) title="show only this group"
                                on:click=move |_| page.set_view(|v| v.filter = narrowed(&v.filter, &clicked))>
                                <td><span class=format!("swatch {colour}")></span>{row.label.clone()}</td>
                                <td data-testid="group-count">{row.count}</td>
                                {row.values.iter().map(|v| view! { <td data-testid="group-q">{fmt_ms(*v)}</td> }).collect_view()}
                                <td>{format!("{:.1}%", row.share * 100.0)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            {(hidden > 0).then(|| view! { <p class="muted" data-testid="groups-hidden">{format!("{hidden} more not shown")}</p> })}
        })
    }
}
