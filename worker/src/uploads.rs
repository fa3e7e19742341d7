//! ProcessUpload: collect the payment, then store, moving the quote through the status table.
//! Every step records its effect first, so a re-run after a crash resumes instead of repeating.
use std::sync::Arc;

use apalis::prelude::*;
use serde_json::json;
use wharf_core::{
    chain::{self, PaymentOutcome},
    jobs::ProcessUpload,
    services::Services,
    uploads::{QuoteError, status},
};

use crate::register::{Handler, observed};

pub fn handler() -> Handler<ProcessUpload> {
    |job, services, _attempt| Box::pin(run(job, services))
}

async fn run(job: ProcessUpload, services: Data<Arc<Services>>) -> Result<(), BoxDynError> {
    observed(ProcessUpload::QUEUE, async move {
        let quote = match services.quotes.get(&job.quote_id).await {
            Ok(q) => q,
            Err(QuoteError::NotFound) => {
                return Err(
                    AbortError::new(format!("quote {} does not exist", job.quote_id)).into(),
                );
            }
            Err(e) => return Err(e.into()),
        };
        let mut current = quote.status;
        if (status::PAYMENT_STARTED..status::PAYMENT_FAILED).contains(&current) {
            current = match chain::collect_payment(&services, &quote).await? {
                PaymentOutcome::Paid => {
                    services
                        .quotes
                        .transition(
                            &quote.id,
                            &[status::PAYMENT_STARTED, status::PAYMENT_SENT],
                            status::STORING,
                            None,
                        )
                        .await?;
                    status::STORING
                }
                PaymentOutcome::Failed {
                    status: failed,
                    reason,
                } => {
                    tracing::info!(quote = %quote.id, status = failed, %reason, "payment failed");
                    services
                        .quotes
                        .transition(
                            &quote.id,
                            &[status::PAYMENT_STARTED, status::PAYMENT_SENT],
                            failed,
                            Some(&reason),
                        )
                        .await?;
                    // Unpaid files are not kept, nor served.
                    for file in services.quotes.files(&quote.id).await? {
                        if let Some(car) = &file.car_id {
                            services.content.remove_car(car).await?;
                        }
                    }
                    return Ok(());
                }
            };
        }
        if (status::STORING..status::DONE).contains(&current) {
            store(&services, &quote.id).await?;
        }
        Ok(())
    })
    .await
}

/// The built-in `ipfs` storage: the blocks are already in the blob store, served by the
/// gateway; the link names each file's CID.
async fn store(services: &Services, quote_id: &str) -> Result<(), BoxDynError> {
    let files = services.quotes.files(quote_id).await?;
    let mut link = Vec::with_capacity(files.len());
    for file in &files {
        let Some(cid) = &file.cid else {
            return Err(AbortError::new(format!(
                "file {} of quote {quote_id} was never received",
                file.idx
            ))
            .into());
        };
        link.push(json!({"type": "ipfs", "cid": cid}));
    }
    services
        .quotes
        .complete(quote_id, &serde_json::Value::Array(link).to_string())
        .await?;
    Ok(())
}
