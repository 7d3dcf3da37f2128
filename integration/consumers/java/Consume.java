/*
 * Reads Sluice change topics as a Java user with plain Apache Avro does: the
 * Kafka client's KafkaConsumer of bytes, read_committed, from the beginning;
 * the Confluent wire format (magic byte 0, 4-byte big-endian schema id, Avro
 * binary) read here; the writer schema fetched from the registry's
 * /schemas/ids/{id}; keys and values decoded by GenericDatumReader over a
 * GenericData with Avro's standard logical-type conversions (decimal,
 * uuid, date, time-*, timestamp-*, local-timestamp-*), nothing else set.
 *
 * Prints one JSON line per record, as consume.py does:
 *
 *   {"topic": T, "partition": P, "offset": O, "key": K, "value": V}
 *
 * or, when the key or the value does not decode:
 *
 *   {"topic": T, "partition": P, "offset": O, "key": K|null, "error": "value: <exception>: <message>"}
 *
 * and stops after --count records, or when no record arrived for --quiet
 * seconds. A summary goes to stderr. Exit code 0 unless the client itself
 * fails (2).
 *
 * Decoded values are written as JSON: bytes and fixed as base64,
 * BigDecimal in plain notation with every digit of its scale, java.time
 * values and UUIDs by their toString (ISO-8601), non-finite floats as the
 * strings "NaN", "Infinity", "-Infinity".
 *
 *   java -cp 'classes:libs/*' Consume --bootstrap 127.0.0.1:9092 \
 *       --registry http://127.0.0.1:8081 --count 24 --quiet 20 TOPIC...
 */

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.StringWriter;
import java.math.BigDecimal;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.avro.Conversions;
import org.apache.avro.Schema;
import org.apache.avro.data.TimeConversions;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericEnumSymbol;
import org.apache.avro.generic.GenericFixed;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public final class Consume {
    private static final ObjectMapper JSON = new ObjectMapper();
    // ASCII only: the output does not depend on the platform's encoding.
    private static final JsonFactory FACTORY = JsonFactory.builder().enable(JsonWriteFeature.ESCAPE_NON_ASCII).build();

    private final String registry;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private final GenericData data = new GenericData();
    private final Map<Integer, GenericDatumReader<Object>> readers = new HashMap<>();

    private Consume(String registry) {
        this.registry = registry.replaceAll("/+$", "");
        data.addLogicalTypeConversion(new Conversions.DecimalConversion());
        data.addLogicalTypeConversion(new Conversions.UUIDConversion());
        data.addLogicalTypeConversion(new TimeConversions.DateConversion());
        data.addLogicalTypeConversion(new TimeConversions.TimeMillisConversion());
        data.addLogicalTypeConversion(new TimeConversions.TimeMicrosConversion());
        data.addLogicalTypeConversion(new TimeConversions.TimestampMillisConversion());
        data.addLogicalTypeConversion(new TimeConversions.TimestampMicrosConversion());
        data.addLogicalTypeConversion(new TimeConversions.TimestampNanosConversion());
        data.addLogicalTypeConversion(new TimeConversions.LocalTimestampMillisConversion());
        data.addLogicalTypeConversion(new TimeConversions.LocalTimestampMicrosConversion());
        data.addLogicalTypeConversion(new TimeConversions.LocalTimestampNanosConversion());
    }

    /** Returns the reader of the writer schema under id, fetched once from the registry. */
    private GenericDatumReader<Object> reader(int id) throws IOException, InterruptedException {
        GenericDatumReader<Object> r = readers.get(id);
        if (r != null) {
            return r;
        }
        HttpRequest req = HttpRequest.newBuilder(URI.create(registry + "/schemas/ids/" + id))
                .timeout(Duration.ofSeconds(30)).header("Accept", "application/json").GET().build();
        HttpResponse<String> resp = http.send(req, HttpResponse.BodyHandlers.ofString());
        if (resp.statusCode() != 200) {
            throw new IOException("registry: GET /schemas/ids/" + id + ": HTTP " + resp.statusCode() + ": " + resp.body());
        }
        JsonNode schema = JSON.readTree(resp.body()).get("schema");
        if (schema == null || !schema.isTextual()) {
            throw new IOException("registry: GET /schemas/ids/" + id + ": no \"schema\" in " + resp.body());
        }
        Schema writer = new Schema.Parser().parse(schema.asText());
        r = new GenericDatumReader<>(writer, writer, data);
        readers.put(id, r);
        return r;
    }

    /** Decodes a Confluent-framed Avro datum. */
    private Object decode(byte[] b) throws IOException, InterruptedException {
        if (b.length < 5 || b[0] != 0) {
            throw new IOException("not the Confluent wire format (" + b.length + " bytes, first " + (b.length > 0 ? b[0] : -1) + ")");
        }
        int id = ByteBuffer.wrap(b, 1, 4).getInt();
        BinaryDecoder in = DecoderFactory.get().binaryDecoder(b, 5, b.length - 5, null);
        Object v = reader(id).read(null, in);
        if (!in.isEnd()) {
            throw new IOException("trailing bytes after the datum of schema " + id);
        }
        return v;
    }

    /** Writes v as JSON, losslessly. */
    private static void write(JsonGenerator g, Object v) throws IOException {
        if (v == null) {
            g.writeNull();
        } else if (v instanceof GenericRecord rec) {
            g.writeStartObject();
            for (Schema.Field f : rec.getSchema().getFields()) {
                g.writeFieldName(f.name());
                write(g, rec.get(f.pos()));
            }
            g.writeEndObject();
        } else if (v instanceof Map<?, ?> m) {
            g.writeStartObject();
            for (Map.Entry<?, ?> e : m.entrySet()) {
                g.writeFieldName(e.getKey().toString());
                write(g, e.getValue());
            }
            g.writeEndObject();
        } else if (v instanceof Collection<?> c) {
            g.writeStartArray();
            for (Object x : c) {
                write(g, x);
            }
            g.writeEndArray();
        } else if (v instanceof Boolean x) {
            g.writeBoolean(x);
        } else if (v instanceof Integer x) {
            g.writeNumber(x);
        } else if (v instanceof Long x) {
            g.writeNumber(x);
        } else if (v instanceof Float || v instanceof Double) {
            double d = ((Number) v).doubleValue();
            if (Double.isNaN(d)) {
                g.writeString("NaN");
            } else if (Double.isInfinite(d)) {
                g.writeString(d > 0 ? "Infinity" : "-Infinity");
            } else {
                g.writeNumber(d);
            }
        } else if (v instanceof BigDecimal x) {
            g.writeString(x.toPlainString());
        } else if (v instanceof ByteBuffer x) {
            ByteBuffer d = x.duplicate();
            byte[] b = new byte[d.remaining()];
            d.get(b);
            g.writeString(Base64.getEncoder().encodeToString(b));
        } else if (v instanceof GenericFixed x) {
            g.writeString(Base64.getEncoder().encodeToString(x.bytes()));
        } else if (v instanceof GenericEnumSymbol<?> || v instanceof CharSequence) {
            g.writeString(v.toString());
        } else {
            // java.time values, UUID.
            g.writeString(v.toString());
        }
    }

    private static String line(ConsumerRecord<byte[], byte[]> rec, Object key, Object value, String error) throws IOException {
        StringWriter w = new StringWriter();
        try (JsonGenerator g = FACTORY.createGenerator(w)) {
            g.writeStartObject();
            g.writeStringField("topic", rec.topic());
            g.writeNumberField("partition", rec.partition());
            g.writeNumberField("offset", rec.offset());
            g.writeFieldName("key");
            write(g, key);
            if (error != null) {
                g.writeStringField("error", error);
            } else {
                g.writeFieldName("value");
                write(g, value);
            }
            g.writeEndObject();
        }
        return w.toString();
    }

    public static void main(String[] argv) throws Exception {
        String bootstrap = null, registry = null;
        long count = 0;
        double quiet = 10;
        List<String> topics = new ArrayList<>();
        for (int i = 0; i < argv.length; i++) {
            switch (argv[i]) {
                case "--bootstrap" -> bootstrap = argv[++i];
                case "--registry" -> registry = argv[++i];
                case "--count" -> count = Long.parseLong(argv[++i]);
                case "--quiet" -> quiet = Double.parseDouble(argv[++i]);
                default -> topics.add(argv[i]);
            }
        }
        if (bootstrap == null || registry == null || topics.isEmpty()) {
            System.err.println("usage: Consume --bootstrap HOST:PORT --registry URL [--count N] [--quiet SECONDS] TOPIC...");
            System.exit(2);
        }
        Consume c = new Consume(registry);
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("group.id", "sluice-consume-java-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
        p.put("isolation.level", "read_committed");
        p.put("auto.offset.reset", "earliest");
        p.put("enable.auto.commit", "false");
        long records = 0, errors = 0;
        try (KafkaConsumer<byte[], byte[]> consumer =
                new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            consumer.subscribe(topics);
            long last = System.nanoTime();
            while (count == 0 || records < count) {
                var batch = consumer.poll(Duration.ofMillis(200));
                if (batch.isEmpty()) {
                    if ((System.nanoTime() - last) / 1e9 >= quiet) {
                        break;
                    }
                    continue;
                }
                last = System.nanoTime();
                for (ConsumerRecord<byte[], byte[]> rec : batch) {
                    records++;
                    Object key = null, value = null;
                    String part = "key", error = null;
                    try {
                        if (rec.key() != null) {
                            key = c.decode(rec.key());
                        }
                        part = "value";
                        if (rec.value() != null) {
                            value = c.decode(rec.value());
                        }
                    } catch (Exception e) { // every decode failure is reported, none stops the reader
                        errors++;
                        error = part + ": " + e.getClass().getName() + ": " + e.getMessage();
                    }
                    System.out.println(line(rec, key, value, error));
                }
                System.out.flush();
            }
        } catch (Exception e) {
            System.err.println("Consume: " + e);
            System.exit(2);
        }
        System.err.println("Consume: " + records + " records, " + errors + " decode errors");
    }
}
