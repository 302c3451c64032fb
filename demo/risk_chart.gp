# The notebook's chart, drawn from isoforest.histogram and the anomaly view:
# risk-score histogram of normal facilities, histogram of the top 5%, anomalies as
# triangles on the axis.  Run by demo/run with: gnuplot -e "dir='output'" demo/risk_chart.gp
if (!exists("dir")) dir = 'output'
set terminal pngcairo size 1100,650 enhanced font 'DejaVu Sans,11'
set output dir.'/figures/risk_distribution_with_anomalies.png'
set title "Risk score distribution with Isolation Forest anomalies (Illinois TRI facilities, 2023)"
set xlabel 'risk score (hazard-weighted release proxy, 0-100)'
set ylabel 'number of facilities'
set key top left box opaque
set grid ytics lc rgb '#dddddd'
set style fill transparent solid 0.55 border lc rgb '#555555'
set boxwidth 0.95 relative
set yrange [-6:*]
set xrange [*:*]
set datafile separator ','
# histogram.csv: bin,lower,upper,normal,top,anomalies ; anomalies.csv: risk_score
plot dir.'/histogram.csv' using (($2+$3)/2):4:($3-$2) with boxes lc rgb '#4C72B0' title 'normal facilities', \
     dir.'/histogram.csv' using (($2+$3)/2):5:($3-$2) with boxes lc rgb '#DD8452' title 'top 5% risk score', \
     dir.'/anomalies.csv' using 1:(-3) with points pt 9 ps 1.4 lc rgb '#C44E52' title 'anomalies (Isolation Forest)'
