; Inno Setup script for the Windows installer of osteo-desktop (Inno Setup 6: https://jrsoftware.org/isinfo.php).
; Build the bundle first (scripts/build-installer.sh in Git Bash, or: .venv\Scripts\python -m PyInstaller
; --noconfirm --distpath dist --workpath build\pyinstaller build.spec), then from the repository root:
;   iscc /DAppVersion=0.3.0 packaging\windows\osteo-desktop.iss
; Output: dist\osteo-desktop-<version>-windows-setup.exe. Installs per user (no administrator rights needed) unless
; the user picks "install for all users"; adds Start-menu and optional desktop shortcuts and an uninstaller.

#ifndef AppVersion
  #define AppVersion "0.3.0"
#endif
#define AppName "Osteo Desktop"
#define BundleDir "..\..\dist\osteo-desktop"

[Setup]
AppId={{6F0C2D52-6A0B-4E0F-9C55-0B5E2A4B7A11}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=osteo-desktop contributors
AppComments=Offline osteoporosis screening of knee radiographs. Research tool, not a diagnostic device.
DefaultDirName={autopf}\Osteo Desktop
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=osteo-desktop-{#AppVersion}-windows-setup
SetupIconFile=..\..\build\pyinstaller\build\osteo-desktop.ico
UninstallDisplayIcon={app}\osteo-desktop.exe
LicenseFile=..\..\resources\licenses\THIRD_PARTY.md
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; The whole one-folder bundle: both executables and the shared _internal\ folder (Qt stays replaceable: LGPL).
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\osteo-desktop.exe"
Name: "{group}\Uninstall {#AppName}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\osteo-desktop.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\osteo-desktop.exe"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
