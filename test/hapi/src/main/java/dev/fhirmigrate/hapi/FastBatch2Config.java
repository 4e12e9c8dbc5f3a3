package dev.fhirmigrate.hapi;

import ca.uhn.fhir.batch2.api.IJobMaintenanceService;
import ca.uhn.fhir.batch2.maintenance.JobMaintenanceServiceImpl;
import jakarta.annotation.PostConstruct;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.context.annotation.Configuration;

/**
 * HAPI's batch2 maintenance pass runs once a minute by default, so a small $export or $import takes minutes.
 * Test servers run it every {@code fhirtest.batch2-maintenance-ms} (default 1000 ms).
 */
@Configuration
public class FastBatch2Config {

  @Autowired private IJobMaintenanceService jobMaintenanceService;

  @Value("${fhirtest.batch2-maintenance-ms:1000}")
  private long maintenanceMillis;

  @PostConstruct
  void speedUpMaintenance() {
    if (jobMaintenanceService instanceof JobMaintenanceServiceImpl impl) {
      impl.setScheduledJobFrequencyMillis(maintenanceMillis);
    } else {
      throw new IllegalStateException(
          "unexpected batch2 maintenance service " + jobMaintenanceService.getClass().getName());
    }
  }
}
