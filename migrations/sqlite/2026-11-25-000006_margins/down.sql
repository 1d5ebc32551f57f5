DROP TABLE margin_sets;
