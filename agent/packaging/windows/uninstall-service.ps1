# Remove the MSPclaw agent service (elevated PowerShell). State in ProgramData is kept
# unless -Purge is given; the credential should also be revoked on the server.
param([switch]$Purge, [string]$StateDir = "$env:ProgramData\MSPclaw\Agent")
sc.exe stop mspclaw-agent
sc.exe delete mspclaw-agent
Unregister-ScheduledTask -TaskName "MSPclaw Agent" -Confirm:$false -ErrorAction SilentlyContinue
if ($Purge) { Remove-Item -Recurse -Force $StateDir }
