//! ProcessUpload: collect the payment, then store, moving the quote through the status table.
//! Every step records its effect first, so a re-run after a crash resumes instead of repeating.
use std::sync::Arc;

use apalis::prelude::*;
use wharf_core::{
    chain::{self, ChainError, PaymentOutcome},
    jobs::ProcessUpload,
    services::Services,
    uploads::{
        Quote, QuoteError,
        backend::{BackendError, Stored},
        status,
    },
};

use crate::register::{Handler, Run, observed};

pub fn handler() -> Handler<ProcessUpload> {
    |job, services, attempt| {
        let attempt = Run::new(&attempt, &services);
        Box::pin(run(job, services, attempt))
    }
}

async fn run(
    job: ProcessUpload,
    services: Data<Arc<Services>>,
    attempt: Run,
) -> Result<(), BoxDynError> {
    observed(ProcessUpload::QUEUE, Some(attempt), async move {
        let quote = match services.quotes.get(&job.quote_id).await {
            Ok(q) => q,
            Err(QuoteError::NotFound) => {
                return Err(
                    AbortError::new(format!("quote {} does not exist", job.quote_id)).into(),
                );
            }
            Err(e) => return Err(e.into()),
        };
        // A microservice needs the owner's signature: from the job, or kept on the quote
        // when the job was queued again by the sweep.
        let signed = job.signed.clone().or_else(|| quote.owner_signature.clone());
        let mut current = quote.status;
        if (status::PAYMENT_STARTED..status::PAYMENT_FAILED).contains(&current) {
            let outcome = match chain::collect_payment(&services, &quote).await {
                // Not mined yet: look again later, as a new job, so that a slow chain never
                // spends the retries meant for failures.
                Err(ChainError::Pending(tx)) => {
                    let delay =
                        std::time::Duration::from_secs(services.config.jobs.payment_wait_secs);
                    services.quotes.touch(&quote.id).await?;
                    services
                        .queue
                        .push_upload_after(&quote.id, signed, delay)
                        .await?;
                    tracing::info!(quote = %quote.id, %tx, "payment still pending; looking again later");
                    return Ok(());
                }
                other => other?,
            };
            current = match outcome {
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
                    // Unpaid files are not kept, nor served: removed before the status says
                    // so, so that a client reading the final status never finds them (a
                    // crash in between re-runs the job, which removes and transitions again).
                    for file in services.quotes.files(&quote.id).await? {
                        if let Some(car) = &file.car_id {
                            services.content.remove_car(car).await?;
                        }
                    }
                    services
                        .quotes
                        .transition(
                            &quote.id,
                            &[status::PAYMENT_STARTED, status::PAYMENT_SENT],
                            failed,
                            Some(&reason),
                        )
                        .await?;
                    return Ok(());
                }
            };
        }
        if (status::STORING..status::DONE).contains(&current) && quote.forwarded_at.is_none() {
            store(&services, &quote, signed.as_ref()).await?;
        }
        Ok(())
    })
    .await
}

/// Hands the files to the quote's storage backend: the built-in one finishes at once (400
/// with its link); a storage microservice takes them and reports its own status from then.
async fn store(
    services: &Services,
    quote: &Quote,
    signed: Option<&wharf_core::uploads::backend::OwnerSignature>,
) -> Result<(), BoxDynError> {
    let files = services.quotes.files(&quote.id).await?;
    let backend = services.quotes.backend(quote).await?;
    match backend.store(quote, &files, signed).await {
        Ok(Stored::Done(link)) => {
            services
                .quotes
                .complete(&quote.id, &link.to_string())
                .await?
        }
        Ok(Stored::Handed) => services.quotes.mark_forwarded(&quote.id).await?,
        // Down or overloaded: try again later (the job's retries, with backoff).
        Err(BackendError::Remote(e)) if e.is_transient() => return Err(e.into()),
        Err(refused) => {
            tracing::info!(quote = %quote.id, error = %refused, "storing failed");
            services
                .quotes
                .transition(
                    &quote.id,
                    &[status::STORING],
                    status::STORE_FAILED,
                    Some(&failure_text(&refused)),
                )
                .await?;
        }
    }
    Ok(())
}

/// What a failed store is recorded as: the service's own message when it gave one.
fn failure_text(e: &BackendError) -> String {
    match e {
        BackendError::Remote(wharf_core::uploads::microservice::RemoteError::Refused {
            status,
            body,
        }) => format!("the storage service refused with HTTP {status}: {body}")
            .chars()
            .take(1000)
            .collect(),
        other => other.to_string(),
    }
}
