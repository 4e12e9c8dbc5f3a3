package dev.fhirmigrate.hapi;

import ca.uhn.fhir.jpa.subscription.match.deliver.email.EmailDetails;
import ca.uhn.fhir.jpa.subscription.match.deliver.email.IEmailSender;

/** Refuses to send mail: test servers have no mail subscriptions. */
final class NoMailSender implements IEmailSender {
  @Override
  public void send(EmailDetails details) {
    throw new UnsupportedOperationException("the fhir-migrate HAPI test server does not send e-mail");
  }
}
