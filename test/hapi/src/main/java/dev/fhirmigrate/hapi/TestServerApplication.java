package dev.fhirmigrate.hapi;

import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.config.HapiJpaConfig;
import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import ca.uhn.fhir.jpa.subscription.match.config.SubscriptionProcessorConfig;
import ca.uhn.fhir.jpa.subscription.submit.config.SubscriptionSubmitterConfig;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.autoconfigure.flyway.FlywayAutoConfiguration;
import org.springframework.boot.autoconfigure.orm.jpa.HibernateJpaAutoConfiguration;
import org.springframework.boot.autoconfigure.quartz.QuartzAutoConfiguration;
import org.springframework.context.annotation.Import;

/**
 * A HAPI FHIR JPA R4 server on H2, configured for migration tests: bulk $export and $import enabled,
 * client ids of any form, exact counts, fast batch2 maintenance. Settings are read from
 * {@code fhirtest.*} properties (see {@link TestServerProperties}).
 */
@SpringBootApplication(
    exclude = {
      QuartzAutoConfiguration.class,
      FlywayAutoConfiguration.class,
      HibernateJpaAutoConfiguration.class
    })
@Import({
  JpaR4Config.class,
  HapiJpaConfig.class,
  JpaBatch2Config.class,
  Batch2JobsConfig.class,
  ThreadPoolFactoryConfig.class,
  SubscriptionSubmitterConfig.class,
  SubscriptionProcessorConfig.class,
  SubscriptionChannelConfig.class,
  StorageConfig.class,
  RestServerConfig.class,
  FastBatch2Config.class
})
public class TestServerApplication {
  public static void main(String[] args) {
    SpringApplication.run(TestServerApplication.class, args);
  }
}
