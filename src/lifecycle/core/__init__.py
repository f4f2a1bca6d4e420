"""The ground every other package stands on: where things live, the parameters and their settings,
the record of what a phase read and wrote, metrics, table formats, the compute engine, plot files."""
