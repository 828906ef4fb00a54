//! Drawing `shared::chart` charts on a `<canvas>` (plotters-canvas), sized
//! to the element's CSS box.

use plotters::coord::Shift;
use plotters::prelude::{DrawingArea, IntoDrawingArea};
use plotters_canvas::CanvasBackend;
use shared::chart::ChartError;
use web_sys::HtmlCanvasElement;

/// Resizes `canvas` to its CSS size and draws on it with `draw`; returns
/// what `draw` returns (e.g. the drawn axis labels).
pub fn draw_on<T>(
    canvas: &HtmlCanvasElement,
    draw: impl FnOnce(&DrawingArea<CanvasBackend, Shift>) -> Result<T, ChartError>,
) -> Result<T, String> {
    let (w, h) = (canvas.client_width(), canvas.client_height());
    if let (Ok(w), Ok(h)) = (u32::try_from(w), u32::try_from(h)) {
        if w > 0 && h > 0 && (canvas.width() != w || canvas.height() != h) {
            canvas.set_width(w);
            canvas.set_height(h);
        }
    }
    let backend = CanvasBackend::with_canvas_object(canvas.clone()).ok_or("the canvas has no 2d context")?;
    let root = backend.into_drawing_area();
    draw(&root).map_err(|e| e.to_string())
}
