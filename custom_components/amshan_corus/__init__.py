"""AMS HAN & Corus meters: smart electricity meters' HAN/P1 port and Itron Corus gas converters."""
