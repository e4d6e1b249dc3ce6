//! The daemon's HTTP endpoints (docs/metrics.md): `/metrics`, `/healthz`, `/readyz`,
//! `/api/v1/status`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::exposition::{
    OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, openmetrics_to_text, wants_openmetrics,
};
use super::health::Health;
use super::metrics::Metrics;
use super::status::{StatusBoard, StatusDocument};

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    board: StatusBoard,
    health: Health,
}

/// Binds exactly `listen` (port 0 picks a free port) and serves until `cancel` fires; then
/// in-flight requests finish and the task ends. Returns the address actually bound.
pub async fn serve(
    listen: SocketAddr,
    metrics: Arc<Metrics>,
    board: StatusBoard,
    health: Health,
    cancel: CancellationToken,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    let app = router(AppState {
        metrics,
        board,
        health,
    });
    let handle = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(cancel.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(address = %bound, error = %e, "HTTP server failed");
        }
    });
    tracing::info!(address = %bound, "serving /metrics, /healthz, /readyz and /api/v1/status");
    Ok((bound, handle))
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/status", get(status))
        .with_state(state)
}

/// OpenMetrics to whoever asks for it (Prometheus does), the classic text format to the rest.
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let openmetrics = state.metrics.encode();
    if wants_openmetrics(accept) {
        (
            [(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
            openmetrics,
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)],
            openmetrics_to_text(&openmetrics),
        )
            .into_response()
    }
}

async fn healthz(State(state): State<AppState>) -> Response {
    probe(state.health.liveness())
}

async fn readyz(State(state): State<AppState>) -> Response {
    probe(state.health.readiness())
}

fn probe(result: Result<String, String>) -> Response {
    match result {
        Ok(body) => (StatusCode::OK, body).into_response(),
        Err(body) => (StatusCode::SERVICE_UNAVAILABLE, body).into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct StatusQuery {
    runner: Option<String>,
}

async fn status(State(state): State<AppState>, Query(query): Query<StatusQuery>) -> Response {
    let mut document: StatusDocument = state.board.snapshot();
    if let Some(name) = query.runner {
        document.runners.retain(|r| r.name == name);
        if document.runners.is_empty() {
            return (
                StatusCode::NOT_FOUND,
                format!("no runner named {name:?} has been reconciled\n"),
            )
                .into_response();
        }
    }
    axum::Json(document).into_response()
}
