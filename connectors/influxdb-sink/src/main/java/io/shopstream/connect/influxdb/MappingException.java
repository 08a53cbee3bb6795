package io.shopstream.connect.influxdb;

import org.apache.kafka.connect.errors.DataException;

/**
 * A record that cannot be turned into a line-protocol point (missing time, no fields, a name that line protocol
 * cannot express, ...). The task reports it through the errant record reporter (DLQ) with this message as the reason
 * and goes on.
 */
public class MappingException extends DataException {
    private static final long serialVersionUID = 1L;

    public MappingException(String reason) {
        super(reason);
    }
}
