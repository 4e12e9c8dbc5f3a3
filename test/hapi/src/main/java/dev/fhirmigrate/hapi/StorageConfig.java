package dev.fhirmigrate.hapi;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.config.SubscriptionSettings;
import ca.uhn.fhir.jpa.model.dialect.HapiFhirH2Dialect;
import ca.uhn.fhir.jpa.subscription.match.deliver.email.IEmailSender;
import ca.uhn.fhir.rest.server.mail.IMailSvc;
import jakarta.persistence.EntityManagerFactory;
import java.util.HashMap;
import java.util.Map;
import javax.sql.DataSource;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Primary;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean;

/** Storage: the JPA settings that make HAPI fit for migration tests, and the H2-backed persistence unit. */
@Configuration
public class StorageConfig {

  @Bean
  public JpaStorageSettings storageSettings(
      @Value("${fhirtest.referential-integrity:true}") boolean referentialIntegrity) {
    JpaStorageSettings settings = new JpaStorageSettings();
    // Client-assigned ids of any form, including purely numeric; server ids are UUIDs so they never clash.
    settings.setResourceClientIdStrategy(JpaStorageSettings.ClientIdStrategyEnum.ANY);
    settings.setResourceServerIdStrategy(JpaStorageSettings.IdStrategyEnum.UUID);
    settings.setAllowExternalReferences(true);
    // Exact counts right after writes: no search-result reuse, accurate history totals.
    settings.setReuseCachedSearchResultsForMillis(null);
    settings.setHistoryCountMode(ca.uhn.fhir.jpa.api.model.HistoryCountModeEnum.COUNT_ACCURATE);
    // meta.source stays what the client sent (no "#requestId" suffix).
    settings.setStoreMetaSourceInformation(JpaStorageSettings.StoreMetaSourceInformationEnum.SOURCE_URI);
    // Bulk export: a new job for every request; files kept for a day.
    settings.setEnableBulkExportJobReuse(false);
    settings.setBulkExportFileRetentionPeriodHours(24);
    settings.setJobFastTrackingEnabled(true);
    // Referential integrity is switchable: off on a destination, where imports arrive in any order.
    settings.setEnforceReferentialIntegrityOnWrite(referentialIntegrity);
    settings.setEnforceReferentialIntegrityOnDelete(referentialIntegrity);
    // Expunge, so tests can reset a server.
    settings.setExpungeEnabled(true);
    settings.setAllowMultipleDelete(true);
    settings.setDeleteExpungeEnabled(true);
    settings.setAllowInlineMatchUrlReferences(true);
    return settings;
  }

  @Bean
  public PartitionSettings partitionSettings() {
    return new PartitionSettings();
  }

  @Bean
  public SubscriptionSettings subscriptionSettings() {
    return new SubscriptionSettings();
  }

  /** The subscription delivery factory needs a mail sender; these servers never send mail. */
  @Bean
  public IEmailSender emailSender() {
    return new NoMailSender();
  }

  @Primary
  @Bean
  public LocalContainerEntityManagerFactoryBean entityManagerFactory(
      DataSource dataSource, ConfigurableListableBeanFactory beanFactory, FhirContext fhirContext,
      JpaStorageSettings storageSettings) {
    LocalContainerEntityManagerFactoryBean factory =
        HapiEntityManagerFactoryUtil.newEntityManagerFactory(beanFactory, fhirContext, storageSettings);
    factory.setPersistenceUnitName("HAPI_PU");
    factory.setDataSource(dataSource);
    Map<String, Object> props = new HashMap<>();
    props.put("hibernate.dialect", HapiFhirH2Dialect.class.getName());
    props.put("hibernate.hbm2ddl.auto", "update");
    props.put("hibernate.search.enabled", "false");
    props.put("hibernate.format_sql", "false");
    props.put("hibernate.show_sql", "false");
    props.put("hibernate.jdbc.batch_size", "50");
    props.put("hibernate.cache.use_query_cache", "false");
    props.put("hibernate.cache.use_second_level_cache", "false");
    props.put("hibernate.cache.use_structured_entries", "false");
    props.put("hibernate.cache.use_minimal_puts", "false");
    factory.setJpaPropertyMap(props);
    return factory;
  }

  @Primary
  @Bean
  public JpaTransactionManager transactionManager(EntityManagerFactory entityManagerFactory) {
    JpaTransactionManager manager = new JpaTransactionManager();
    manager.setEntityManagerFactory(entityManagerFactory);
    return manager;
  }
}
