# MSPclaw endpoint agent: install as a Windows service (run in an elevated PowerShell).
#   powershell -ExecutionPolicy Bypass -File install-service.ps1 -Server https://msp.example -Token TOKEN
# Uses sc.exe and the Service Control Manager's own restart policy: no pywin32 needed.
# The console script is wrapped by a tiny service host (WinSW), because sc.exe can only
# start binaries that speak the service protocol; see agent/packaging/README.md.
param(
    [Parameter(Mandatory = $true)][string]$Server,
    [Parameter(Mandatory = $true)][string]$Token,
    [string]$InstallDir = "$env:ProgramFiles\MSPclaw Agent",
    [string]$StateDir = "$env:ProgramData\MSPclaw\Agent",
    # service: a real Windows service through WinSW; task: a SYSTEM scheduled task at boot
    # (no extra binary at all, restarted by Task Scheduler on failure).
    [ValidateSet("service", "task")][string]$Mode = "service"
)
$ErrorActionPreference = "Stop"

$python = Join-Path $InstallDir "venv\Scripts\python.exe"
if (-not (Test-Path $python)) {
    py -3.11 -m venv (Join-Path $InstallDir "venv")
    & $python -m pip install --upgrade mspclaw-agent
}
$agent = Join-Path $InstallDir "venv\Scripts\mspclaw-agent.exe"

# Enrol once; the state directory is readable by SYSTEM and Administrators only.
New-Item -ItemType Directory -Force -Path $StateDir | Out-Null
icacls $StateDir /inheritance:r /grant:r "SYSTEM:(OI)(CI)F" "Administrators:(OI)(CI)F" | Out-Null
& $agent --state-dir $StateDir enroll --server $Server --token $Token
if ($LASTEXITCODE -ne 0) { throw "enrolment failed" }

if ($Mode -eq "task") {
    $action = New-ScheduledTaskAction -Execute $agent -Argument "--state-dir `"$StateDir`" run"
    $trigger = New-ScheduledTaskTrigger -AtStartup
    $settings = New-ScheduledTaskSettingsSet -RestartCount 999 -RestartInterval (New-TimeSpan -Minutes 1) `
        -ExecutionTimeLimit ([TimeSpan]::Zero) -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries
    $principal = New-ScheduledTaskPrincipal -UserId "SYSTEM" -LogonType ServiceAccount -RunLevel Highest
    Register-ScheduledTask -TaskName "MSPclaw Agent" -Action $action -Trigger $trigger `
        -Settings $settings -Principal $principal -Force | Out-Null
    Start-ScheduledTask -TaskName "MSPclaw Agent"
    return
}

# Service host: WinSW runs the console script as a service (one exe + one XML file).
$winsw = Join-Path $InstallDir "mspclaw-agent-service.exe"
if (-not (Test-Path $winsw)) {
    throw "Place WinSW-x64.exe at $winsw (https://github.com/winsw/winsw/releases), then re-run."
}
@"
<service>
  <id>mspclaw-agent</id>
  <name>MSPclaw Agent</name>
  <description>MSPclaw endpoint agent: runs allow-listed tools for your MSP.</description>
  <executable>$agent</executable>
  <arguments>--state-dir "$StateDir" run</arguments>
  <onfailure action="restart" delay="10 sec"/>
  <log mode="roll-by-size"><sizeThreshold>10240</sizeThreshold><keepFiles>5</keepFiles></log>
</service>
"@ | Set-Content -Encoding UTF8 (Join-Path $InstallDir "mspclaw-agent-service.xml")

sc.exe create mspclaw-agent binPath= "`"$winsw`"" start= auto DisplayName= "MSPclaw Agent"
sc.exe description mspclaw-agent "MSPclaw endpoint agent"
sc.exe failure mspclaw-agent reset= 86400 actions= restart/10000/restart/60000/restart/300000
sc.exe start mspclaw-agent
