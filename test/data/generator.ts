/**
 * Deterministic, realistic FHIR R4 test data: patients with encounters, observations, conditions,
 * medication requests and allergies, linked by real references to shared organizations and practitioners.
 * Pure: a seed and a wave number in, a list of writes out.
 */
import { Decimal } from './json-decimal.ts';
import { Random } from './random.ts';

export interface FhirResource {
  resourceType: string;
  id: string;
  [field: string]: unknown;
}

export type Write =
  | { kind: 'put'; resource: FhirResource; isUpdate: boolean }
  | { kind: 'delete'; resourceType: string; id: string };

export interface WavePlan {
  wave: number;
  writes: Write[];
}

export interface GeneratorOptions {
  seed: number;
  patients: number;
  waves: number;
}

export const seededTypes = [
  'Organization',
  'Practitioner',
  'Patient',
  'Encounter',
  'Observation',
  'Condition',
  'MedicationRequest',
  'AllergyIntolerance',
] as const;

const ORGANIZATIONS = 3;
const PRACTITIONERS = 5;

const families = [
  'Müller',
  'García',
  'Nguyễn',
  'O’Brien',
  'Søren',
  'Łukaszewicz',
  '李',
  'Παπαδόπουλος',
  'Иванова',
  'Smith',
  'Ødegård',
  'Ñúñez',
];
const givens = [
  'Zoë',
  'José',
  'Amélie',
  'Björn',
  'Chloé',
  'Dmitrij',
  'Émile',
  'Håkon',
  '明',
  'Ayşe',
  'Renée',
  'Sam',
];
const cities = ['Zürich', 'Kraków', 'São Paulo', 'Reykjavík', 'Montréal', 'Seattle'];

const vitals = [
  { loinc: '8310-5', display: 'Body temperature', unit: 'Cel', whole: [36, 39] },
  { loinc: '8867-4', display: 'Heart rate', unit: '/min', whole: [55, 110] },
  { loinc: '29463-7', display: 'Body weight', unit: 'kg', whole: [40, 120] },
  { loinc: '2339-0', display: 'Glucose [Mass/volume] in Blood', unit: 'mg/dL', whole: [70, 180] },
] as const;

const conditions = [
  { code: '44054006', display: 'Diabetes mellitus type 2' },
  { code: '38341003', display: 'Hypertensive disorder' },
  { code: '195967001', display: 'Asthma' },
] as const;

const medications = [
  { code: '860975', display: 'metformin 500 MG Oral Tablet' },
  { code: '197361', display: 'amlodipine 5 MG Oral Tablet' },
  { code: '745752', display: 'albuterol 0.09 MG/ACTUAT inhaler' },
] as const;

const allergies = [
  { code: '91936005', display: 'Allergy to penicillin' },
  { code: '300913006', display: 'Shellfish allergy' },
] as const;

/** Ids: every third patient gets a purely numeric id, which servers must accept as client-assigned. */
export function patientId(seed: number, n: number): string {
  return n % 3 === 0 ? String(seed * 1_000_000 + n) : `pat-${seed}-${n}`;
}

const orgId = (seed: number, n: number) => `org-${seed}-${n}`;
const practId = (seed: number, n: number) => `pr-${seed}-${n}`;

/** Which wave a patient is first written in: patients are spread evenly over the waves. */
export function patientsOfWave(options: GeneratorOptions, wave: number): number[] {
  const out: number[] = [];
  for (let n = 0; n < options.patients; n++) if (n % options.waves === wave) out.push(n);
  return out;
}

export function planWave(options: GeneratorOptions, wave: number): WavePlan {
  const { seed } = options;
  const writes: Write[] = [];
  if (wave === 0) {
    for (let n = 0; n < ORGANIZATIONS; n++) writes.push(put(organization(seed, n)));
    for (let n = 0; n < PRACTITIONERS; n++) writes.push(put(practitioner(seed, n)));
  }
  for (const n of patientsOfWave(options, wave)) writes.push(...patientRecord(seed, n).map((r) => put(r)));
  if (wave > 0) writes.push(...changesToEarlierWaves(options, wave));
  return {
    wave,
    writes: writes.map((w) => (w.kind === 'put' ? { ...w, resource: withSeedTag(seed, w.resource) } : w)),
  };
}

/** The tag every generated resource carries, so a test can scope searches to its own seed (`_tag=…`). */
export const seedTagSystem = 'urn:fhir-migrate:test';

export function seedTag(seed: number): { system: string; code: string } {
  return { system: seedTagSystem, code: `seed-${seed}` };
}

/** The resource with the seed's tag added to meta.tag (unchanged when it is there already). */
function withSeedTag(seed: number, resource: FhirResource): FhirResource {
  const tag = seedTag(seed);
  const meta = isRecord(resource.meta) ? resource.meta : {};
  const tags = Array.isArray(meta.tag) ? meta.tag : [];
  if (tags.some((t) => isRecord(t) && t.system === tag.system && t.code === tag.code)) return resource;
  return { ...resource, meta: { ...meta, tag: [...tags, tag] } };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const put = (resource: FhirResource, isUpdate = false): Write => ({ kind: 'put', resource, isUpdate });

/**
 * Later waves update a few earlier resources (so they have history) and delete a few others.
 * The first patient of wave 0 is updated in every later wave; one observation and one allergy
 * of wave k-1 are deleted in wave k.
 */
function changesToEarlierWaves(options: GeneratorOptions, wave: number): Write[] {
  const { seed } = options;
  const writes: Write[] = [];
  const first = patientsOfWave(options, 0)[0];
  if (first !== undefined) {
    const updated = patient(seed, first);
    updated.telecom = [
      { system: 'phone', value: `+1-555-01${String(wave).padStart(2, '0')}`, use: 'mobile' },
    ];
    updated.active = wave % 2 === 0;
    writes.push(put(updated, true));
  }
  const previous = patientsOfWave(options, wave - 1);
  const second = previous[1];
  if (second !== undefined) {
    const condition = conditionOf(seed, second);
    condition.clinicalStatus = coding('http://terminology.hl7.org/CodeSystem/condition-clinical', 'resolved');
    writes.push(put(condition, true));
  }
  const deletedFrom = previous[previous.length - 1];
  if (deletedFrom !== undefined) {
    writes.push({ kind: 'delete', resourceType: 'Observation', id: `obs-${seed}-${deletedFrom}-0-0` });
    if (hasAllergy(deletedFrom))
      writes.push({ kind: 'delete', resourceType: 'AllergyIntolerance', id: `alg-${seed}-${deletedFrom}` });
  }
  return writes;
}

function organization(seed: number, n: number): FhirResource {
  return {
    resourceType: 'Organization',
    id: orgId(seed, n),
    meta: { source: 'urn:fhir-migrate:seed-data' },
    identifier: [{ system: 'urn:oid:2.16.840.1.113883.4.7', value: `ORG${seed}${n}` }],
    active: true,
    name: `Hôpital ${cities[n % cities.length]} ${n}`,
    address: [{ city: cities[n % cities.length], country: 'XX' }],
  };
}

function practitioner(seed: number, n: number): FhirResource {
  const r = new Random(seed * 7919 + n);
  return {
    resourceType: 'Practitioner',
    id: practId(seed, n),
    identifier: [{ system: 'http://hl7.org/fhir/sid/us-npi', value: `19${r.digits(8)}` }],
    name: [{ family: r.pick(families), given: [r.pick(givens)], prefix: ['Dr.'] }],
    gender: r.pick(['female', 'male', 'other']),
  };
}

function patient(seed: number, n: number): FhirResource {
  const r = new Random(seed * 104729 + n);
  const family = r.pick(families);
  const given = r.pick(givens);
  return {
    resourceType: 'Patient',
    id: patientId(seed, n),
    meta: {
      source: 'urn:fhir-migrate:seed-data',
      tag: [seedTag(seed)],
    },
    extension: [
      {
        url: 'http://hl7.org/fhir/StructureDefinition/patient-birthPlace',
        valueAddress: { city: r.pick(cities), country: 'XX' },
      },
      {
        url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity',
        extension: [
          {
            url: 'ombCategory',
            valueCoding: {
              system: 'urn:oid:2.16.840.1.113883.6.238',
              code: '2186-5',
              display: 'Not Hispanic or Latino',
            },
          },
          { url: 'text', valueString: 'Not Hispanic or Latino' },
        ],
      },
    ],
    identifier: [{ system: 'urn:fhir-migrate:mrn', value: `MRN-${seed}-${n}` }],
    active: true,
    name: [{ use: 'official', family, given: [given, r.pick(givens)], text: `${given} ${family} ✓` }],
    gender: r.pick(['female', 'male', 'other', 'unknown']),
    birthDate: `19${r.int(30, 99)}-${pad(r.int(1, 12))}-${pad(r.int(1, 28))}`,
    address: [
      { line: [`${r.int(1, 999)} Straße ${r.digits(2)}`], city: r.pick(cities), postalCode: r.digits(5) },
    ],
    managingOrganization: { reference: `Organization/${orgId(seed, n % ORGANIZATIONS)}` },
    generalPractitioner: [{ reference: `Practitioner/${practId(seed, n % PRACTITIONERS)}` }],
  };
}

const hasAllergy = (n: number) => n % 2 === 0;

function conditionOf(seed: number, n: number): FhirResource {
  const r = new Random(seed * 15485863 + n);
  const c = r.pick(conditions);
  return {
    resourceType: 'Condition',
    id: `cond-${seed}-${n}`,
    clinicalStatus: coding('http://terminology.hl7.org/CodeSystem/condition-clinical', 'active'),
    verificationStatus: coding('http://terminology.hl7.org/CodeSystem/condition-ver-status', 'confirmed'),
    code: {
      coding: [{ system: 'http://snomed.info/sct', code: c.code, display: c.display }],
      text: c.display,
    },
    subject: { reference: `Patient/${patientId(seed, n)}` },
    encounter: { reference: `Encounter/enc-${seed}-${n}-0` },
    onsetDateTime: `20${r.int(10, 23)}-${pad(r.int(1, 12))}-${pad(r.int(1, 28))}`,
  };
}

/** One patient and everything recorded about them: 9-10 resources. */
function patientRecord(seed: number, n: number): FhirResource[] {
  const r = new Random(seed * 2_000_003 + n);
  const pid = patientId(seed, n);
  const out: FhirResource[] = [patient(seed, n)];
  for (let e = 0; e < 2; e++) {
    const encId = `enc-${seed}-${n}-${e}`;
    const day = `2024-${pad(r.int(1, 12))}-${pad(r.int(1, 28))}`;
    out.push({
      resourceType: 'Encounter',
      id: encId,
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: e === 0 ? 'AMB' : 'EMER' },
      subject: { reference: `Patient/${pid}` },
      participant: [{ individual: { reference: `Practitioner/${practId(seed, (n + e) % PRACTITIONERS)}` } }],
      period: { start: `${day}T09:00:00+01:00`, end: `${day}T09:30:00+01:00` },
      serviceProvider: { reference: `Organization/${orgId(seed, n % ORGANIZATIONS)}` },
    });
    for (let o = 0; o < 2; o++) {
      const v = r.pick(vitals);
      // 21 significant digits: more than a double (or Java's default 18-digit handling) can hold.
      const value =
        o === 1 && e === 1
          ? new Decimal(`${r.int(v.whole[0], v.whole[1])}.${'0'.repeat(19)}`)
          : new Decimal(`${r.int(v.whole[0], v.whole[1])}.${r.digits(19)}`);
      out.push({
        resourceType: 'Observation',
        id: `obs-${seed}-${n}-${e}-${o}`,
        status: 'final',
        category: [
          {
            coding: [
              { system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' },
            ],
          },
        ],
        code: { coding: [{ system: 'http://loinc.org', code: v.loinc, display: v.display }] },
        subject: { reference: `Patient/${pid}` },
        encounter: { reference: `Encounter/${encId}` },
        performer: [{ reference: `Practitioner/${practId(seed, n % PRACTITIONERS)}` }],
        effectiveDateTime: `${day}T09:${pad(10 + o)}:00+01:00`,
        valueQuantity: { value, unit: v.unit, system: 'http://unitsofmeasure.org', code: v.unit },
        note: [{ text: `Gemessen von ${r.pick(givens)} — ok 👍` }],
      });
    }
  }
  out.push(conditionOf(seed, n));
  const m = r.pick(medications);
  out.push({
    resourceType: 'MedicationRequest',
    id: `medreq-${seed}-${n}`,
    // A contained resource, referenced from inside its container.
    contained: [
      {
        resourceType: 'Medication',
        id: 'med',
        code: {
          coding: [
            { system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: m.code, display: m.display },
          ],
        },
      },
    ],
    status: 'active',
    intent: 'order',
    medicationReference: { reference: '#med' },
    subject: { reference: `Patient/${pid}` },
    requester: { reference: `Practitioner/${practId(seed, n % PRACTITIONERS)}` },
    dosageInstruction: [
      { text: '1 tablet by mouth daily', timing: { repeat: { frequency: 1, period: 1, periodUnit: 'd' } } },
    ],
  });
  if (hasAllergy(n)) {
    const a = r.pick(allergies);
    out.push({
      resourceType: 'AllergyIntolerance',
      id: `alg-${seed}-${n}`,
      clinicalStatus: coding('http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', 'active'),
      code: { coding: [{ system: 'http://snomed.info/sct', code: a.code, display: a.display }] },
      patient: { reference: `Patient/${pid}` },
    });
  }
  return out;
}

function coding(system: string, code: string) {
  return { coding: [{ system, code }] };
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}
